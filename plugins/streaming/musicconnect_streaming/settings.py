from pydantic import Field

from musicconnect import PluginSettings


class StreamingSettings(PluginSettings):
    max_upload_mb: int = Field(default=1024, ge=1, le=20_000, description="largest upload accepted")
    max_duration_minutes: int = Field(default=90, ge=1, le=24 * 60)
    play_count_seconds: float = Field(default=30.0, ge=1, description="a play counts after this many seconds")
    play_dedupe_minutes: int = Field(default=30, ge=0, description="one counted play per listener and track per window")
    downloads_per_month: int | None = Field(default=None, ge=0,
                                            description="overrides the tier perk offline_downloads when set")
    segment_url_ttl: int = Field(default=3600, ge=60)
    playback_token_ttl: int = Field(default=6 * 3600, ge=60)
    download_url_ttl: int = Field(default=600, ge=30)
    preview_seconds: float = Field(default=30.0, ge=5, le=120)
