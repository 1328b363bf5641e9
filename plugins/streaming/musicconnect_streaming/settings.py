from pydantic import Field

from musicconnect import PluginSettings


#: the highest ``max_upload_mb`` an operator may set (the upload routes' body limit is derived from it;
#: the configured size is enforced while the bytes arrive)
MAX_UPLOAD_MB_CAP = 20_000


class StreamingSettings(PluginSettings):
    max_upload_mb: int = Field(default=1024, ge=1, le=MAX_UPLOAD_MB_CAP, description="largest upload accepted")
    max_duration_minutes: int = Field(default=90, ge=1, le=24 * 60)
    play_count_seconds: float = Field(default=30.0, ge=1, description="a play counts after this many seconds")
    play_dedupe_minutes: int = Field(default=30, ge=0, description="one counted play per listener and track per window")
    anonymous_plays_per_hour: int = Field(
        default=4, ge=0, le=10_000,
        description="counted anonymous plays per client address and track per hour (more are accepted, not counted)")
    downloads_per_month: int | None = Field(default=None, ge=0,
                                            description="overrides the tier perk offline_downloads when set")
    segment_url_ttl: int = Field(default=3600, ge=60)
    playback_token_ttl: int = Field(default=6 * 3600, ge=60)
    download_url_ttl: int = Field(default=600, ge=30)
    preview_seconds: float = Field(default=30.0, ge=5, le=120)
    orphan_grace_hours: int = Field(default=24, ge=1, le=24 * 30,
                                    description="stored files no row accounts for are removed after this long")
