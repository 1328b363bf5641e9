"""Plugins' state files (``register_state_files``) in backups: the nft plugin's embedded chain
survives a backup and a restore into an empty deployment (the token minted on it is still there);
a plugin naming a path outside the data dir refuses the backup and leaves no set; a tampered
state file fails verification; restore does not overwrite a state file unless forced."""
from __future__ import annotations

import importlib.util
import os
import sqlite3
import types
from pathlib import Path

import pytest

from musicconnect import hookimpl
from musicconnect.backup import BackupError, create_backup, restore_backup, sets, verify_set
from musicconnect.testing import make_user

pytestmark = pytest.mark.slow


def _target_settings(mc_settings, empty_deployment):
    """Settings of a new, empty deployment (new data dir; new database and bucket when the tests
    run on PostgreSQL and S3)."""
    env = empty_deployment()
    data_dir = Path(env["MC_DATA_DIR"])
    update = {"data_dir": data_dir,
              "database_url": env.get("MC_DATABASE_URL") or f"sqlite:///{data_dir.parent / (data_dir.name + '.db')}"}
    if env.get("MC_S3_BUCKET"):
        update["s3_bucket"] = env["MC_S3_BUCKET"]
    return mc_settings.model_copy(update=update)


def _maker(mc_clock, selection, extra=()):
    from musicconnect.platform import Platform

    def make(settings):
        return Platform(settings, clock=mc_clock, extra_plugins=list(extra), entry_points=selection.entry_points())
    return make


def _nft_world():
    """tests/nft/nft_world.py (its helpers mint on the embedded chain)."""
    path = Path(__file__).resolve().parents[1] / "nft" / "nft_world.py"
    spec = importlib.util.spec_from_file_location("nft_world_for_backup", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _source(make, **kw):
    """A source deployment; in the distributed pass its storage is a bucket, made here (a
    platform that is not started has not made it)."""
    p = make(**kw)
    if hasattr(p.storage, "ensure_bucket"):
        p.storage.ensure_bucket()
    return p


def _no_set_left(dest: Path) -> None:
    assert sets(dest) == []
    assert [p.name for p in dest.iterdir() if p.name != "objects"] == []  # no temporary set either


# --------------------------------------------------------------------------- the nft chain


@pytest.mark.mc_plugins("nft")
def test_the_embedded_chain_survives_backup_and_restore(mc_make_platform, mc_settings, mc_clock,
                                                        mc_plugin_selection, empty_deployment, tmp_path):
    from musicconnect_nft.chain import chain_file, get_chain

    world = _nft_world()
    p = _source(mc_make_platform)
    p.started = True  # close() runs the shutdown hooks as after a real start (the chain file is let go)
    artist = make_user(p, "artist", artist_name="Chain Band")
    fan = make_user(p, "fan")
    _coll, crit = world.make_collection(p, artist.artist_id)
    token_id = int(world.mint(p, fan.id, crit))  # stored as a decimal string
    contract = get_chain(p).contract
    owner = contract.functions.ownerOf(token_id).call()
    uri = contract.functions.tokenURI(token_id).call()
    assert chain_file(p).is_file()

    dest = tmp_path / "bk"
    result = create_backup(p, dest, include_secret=True)  # the chain file is open (and locked) here
    states = result.manifest["state_files"]
    assert [(s["plugin"], s["path"], s["sqlite"]) for s in states] == [("nft", "nft-chain.sqlite", True)]
    assert result.manifest["format"] == 2 and (result.path / states[0]["file"]).is_file()
    verify_set(result.path)
    p.close()  # lets go of the chain file (and its lock)

    target = _target_settings(mc_settings, empty_deployment)
    make = _maker(mc_clock, mc_plugin_selection)
    summary = restore_backup(target, result.path, make_platform=make)  # closes the platforms it makes
    assert summary["state_files"] == ["nft-chain.sqlite"]
    restored = Path(target.data_dir) / "nft-chain.sqlite"
    assert restored.is_file()
    with sqlite3.connect(restored) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    q = make(target)
    q.started = True
    try:
        chain = get_chain(q)  # the deployment the restored database records, on the restored chain
        assert chain.contract.address == contract.address
        assert chain.contract.functions.ownerOf(token_id).call() == owner
        assert chain.contract.functions.tokenURI(token_id).call() == uri
    finally:
        q.close()


# --------------------------------------------------------------------------- any plugin's files


def _state_plugin(paths):
    """A plugin declaring ``paths()`` as its state files."""
    @hookimpl
    def register_state_files(platform):
        return paths(platform)
    return types.SimpleNamespace(register_state_files=register_state_files, __name__="keeper")


@pytest.mark.mc_plugins()
@pytest.mark.parametrize("declared", ["../outside.bin", "/etc/hostname", "link/outside.bin", "missing.bin",
                                      "sub/../../outside.bin", "secret.key"])
def test_a_path_outside_the_data_dir_refuses_the_backup_and_leaves_no_set(mc_make_platform, tmp_path, declared):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"not the platform's")
    p = _source(mc_make_platform, extra_plugins=[("keeper", _state_plugin(lambda platform: [declared]))])
    data_dir = Path(p.settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "link").symlink_to(tmp_path)
    p.settings.signing_key()  # the key file exists (a plugin naming it is refused too)
    dest = tmp_path / "bk"
    with pytest.raises(BackupError) as exc:
        create_backup(p, dest)
    line = str(exc.value)
    assert "\n" not in line and "keeper plugin's state file" in line and declared.rsplit("/", 1)[-1] in line, line
    _no_set_left(dest)


@pytest.mark.mc_plugins()
def test_a_plugin_failing_to_name_its_state_refuses_the_backup(mc_make_platform, tmp_path):
    def boom(platform):
        raise RuntimeError("disk on fire")
    p = _source(mc_make_platform, extra_plugins=[("keeper", _state_plugin(boom))])
    dest = tmp_path / "bk"
    with pytest.raises(BackupError, match=r"the keeper plugin failed to name its state files \(RuntimeError: disk "
                                          r"on fire\): the backup would lack its state"):
        create_backup(p, dest)
    _no_set_left(dest)


@pytest.mark.mc_plugins()
def test_state_files_are_verified_and_restored_without_overwriting(mc_make_platform, mc_settings, mc_clock,
                                                                   mc_plugin_selection, empty_deployment, tmp_path):
    def files(platform):
        return ["keeper/state.bin", Path("keeper/index.sqlite")]
    plugin = _state_plugin(files)
    p = _source(mc_make_platform, extra_plugins=[("keeper", plugin)])
    folder = Path(p.settings.data_dir) / "keeper"
    folder.mkdir(parents=True)
    (folder / "state.bin").write_bytes(b"\x00state\xff" * 1000)
    live = sqlite3.connect(folder / "index.sqlite")  # in use, in WAL mode, with a write not checkpointed
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("CREATE TABLE t (v TEXT)")
    live.execute("INSERT INTO t VALUES ('kept')")
    live.commit()
    assert Path(f"{folder / 'index.sqlite'}-wal").stat().st_size > 0
    dest = tmp_path / "bk"
    try:
        result = create_backup(p, dest, include_secret=True)
    finally:
        live.close()
    states = {s["path"]: s for s in result.manifest["state_files"]}
    assert set(states) == {"keeper/state.bin", "keeper/index.sqlite"}
    assert states["keeper/state.bin"]["file"] == "state-keeper-state.bin" and not states["keeper/state.bin"]["sqlite"]
    assert states["keeper/index.sqlite"]["sqlite"]
    verify_set(result.path)

    # restore: refused (nothing written) while the target holds one of the files, unless forced
    target = _target_settings(mc_settings, empty_deployment)
    make = _maker(mc_clock, mc_plugin_selection, [("keeper", plugin)])
    (Path(target.data_dir) / "keeper").mkdir(parents=True)
    (Path(target.data_dir) / "keeper" / "state.bin").write_bytes(b"theirs")
    with pytest.raises(BackupError, match=r"already holds keeper/state.bin .*--force"):
        restore_backup(target, result.path, make_platform=make)
    assert (Path(target.data_dir) / "keeper" / "state.bin").read_bytes() == b"theirs"
    assert not (Path(target.data_dir) / "keeper" / "index.sqlite").exists()
    (Path(target.data_dir) / "keeper" / "state.bin").unlink()
    restore_backup(target, result.path, make_platform=make)
    assert (Path(target.data_dir) / "keeper" / "state.bin").read_bytes() == b"\x00state\xff" * 1000
    with sqlite3.connect(Path(target.data_dir) / "keeper" / "index.sqlite") as conn:
        assert conn.execute("SELECT v FROM t").fetchall() == [("kept",)]

    # a tampered state file fails verification, and so restore
    member = result.path / "state-keeper-state.bin"
    member.write_bytes(member.read_bytes()[:-1] + b"X")
    with pytest.raises(BackupError, match=r"the keeper plugin's state file 'keeper/state.bin' .* does not match its "
                                          r"checksum"):
        verify_set(result.path)
    with pytest.raises(BackupError, match="does not match its checksum"):
        restore_backup(_target_settings(mc_settings, empty_deployment), result.path, make_platform=make)


@pytest.mark.mc_plugins()
def test_a_set_without_state_files_keeps_format_1(mc_make_platform, tmp_path):
    p = _source(mc_make_platform, extra_plugins=[("keeper", _state_plugin(lambda platform: None))])
    result = create_backup(p, tmp_path / "bk")
    assert result.manifest["format"] == 1 and "state_files" not in result.manifest
    verify_set(result.path)
    assert not [n for n in os.listdir(result.path) if n.startswith("state-")]


def test_a_set_that_cannot_be_authenticated_restores_only_bare_state_file_names(
        mc_make_platform, mc_settings, mc_clock, mc_plugin_selection, empty_deployment, tmp_path):
    """Another signing key (the manifest's HMAC cannot be checked) and --force: the manifest could
    have been altered, so a state file may only go to a bare name directly in the data dir."""
    from pydantic import SecretStr

    def files(platform):
        return ["keeper/state.bin", "flat.bin"]
    plugin = _state_plugin(files)
    p = _source(mc_make_platform, extra_plugins=[("keeper", plugin)])
    (Path(p.settings.data_dir) / "keeper").mkdir(parents=True)
    (Path(p.settings.data_dir) / "keeper" / "state.bin").write_bytes(b"nested")
    (Path(p.settings.data_dir) / "flat.bin").write_bytes(b"flat")
    result = create_backup(p, tmp_path / "bk")
    make = _maker(mc_clock, mc_plugin_selection, [("keeper", plugin)])
    other_key = {"secret_key": SecretStr("ab" * 32)}
    target = _target_settings(mc_settings, empty_deployment).model_copy(update=other_key)
    with pytest.raises(BackupError, match=r"'keeper/state.bin' is not a bare file name.*cannot be authenticated"):
        restore_backup(target, result.path, force=True, make_platform=make)
    assert not (Path(target.data_dir) / "flat.bin").exists()  # nothing written

    def flat_only(platform):
        return ["flat.bin"]
    flat_plugin = _state_plugin(flat_only)
    p2 = _source(mc_make_platform, extra_plugins=[("keeper", flat_plugin)])
    (Path(p2.settings.data_dir) / "flat.bin").write_bytes(b"flat")
    flat_set = create_backup(p2, tmp_path / "bk2")
    target2 = _target_settings(mc_settings, empty_deployment).model_copy(update=other_key)
    restore_backup(target2, flat_set.path, force=True, make_platform=_maker(mc_clock, mc_plugin_selection,
                                                                             [("keeper", flat_plugin)]))
    assert (Path(target2.data_dir) / "flat.bin").read_bytes() == b"flat"
