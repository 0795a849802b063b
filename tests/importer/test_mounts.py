"""Mounts (importer/mounts.py): no data a Compose service kept is left behind without a TODO that says
where it is and the commands that move it; a volume keeps the Docker volume Compose kept it in when
berth's name for it is that name."""

from __future__ import annotations

from tests.support.compose_import import import_fixture, prose


def test_bind_mounted_data_dirs_become_volumes_whatever_their_target_looks_like(tmp_path):
    result = import_fixture(tmp_path, "data-dirs")
    app = result.apps["photos"]["services"]["app"]
    # a target with a dot and a source this machine lacks is a directory (Docker creates a missing source
    # as one), and a trailing slash names the same directory
    assert app["volumes"]["app_home"] == "/home/node/.photos"
    assert app["volumes"]["library"] == "/srv/library"
    where = result.out.parent / "src" / "data-dirs"
    assert (f"`tar -czf app_home.tar.gz -C {where}/app-home .`, then after the first `pulumi up`: "
            "`scripts/volume restore photos_app_home < app_home.tar.gz`") in prose(result.texts["photos"])
    assert any("photos_library" in todo and "scripts/volume restore" in todo for todo in result.todos)
    assert result.code == 0


def test_a_named_volume_keeps_its_docker_volume_when_the_app_has_the_projects_name(tmp_path):
    result = import_fixture(tmp_path, "data-dirs")
    app = result.apps["photos"]["services"]["app"]
    assert app["volumes"]["thumbs"] == "/srv/thumbs"
    assert "berth mounts the same Docker volume, photos_thumbs" in prose(result.texts["photos"])
    assert not any("photos_thumbs" in todo for todo in result.todos)


def test_a_volume_berth_names_otherwise_carries_the_commands_that_move_it(tmp_path):
    external = import_fixture(tmp_path / "external", "data-dirs")
    assert external.apps["photos"]["services"]["app"]["volumes"]["legacy"] == "/srv/legacy"
    assert ("Compose keeps /srv/legacy's data in the Docker volume old_photos_data; berth's is photos_legacy. Move it "
            "once: `scripts/volume backup old_photos_data > legacy.tar.gz` where Compose ran it, then after the first "
            "`pulumi up`: `scripts/volume restore photos_legacy < legacy.tar.gz`") in external.todos[-1] + " ".join(
        external.todos)
    renamed = import_fixture(tmp_path / "renamed", "data-dirs", "--app", "gallery")
    assert any("`scripts/volume backup photos_thumbs > thumbs.tar.gz`" in todo and
               "`scripts/volume restore gallery_thumbs < thumbs.tar.gz`" in todo for todo in renamed.todos)


def test_a_directory_the_service_only_reads_is_a_host_dir_with_where_its_files_go(tmp_path):
    result = import_fixture(tmp_path, "data-dirs")
    assert result.apps["photos"]["services"]["app"]["hostDirs"] == {"config": {"target": "/etc/photos", "readOnly": True}}
    assert any("host-dirs/photos/config (/srv/berth/host-dirs/photos/config on EC2)" in t for t in result.todos)


def test_outside_dev_every_volume_is_moved_to_the_new_host(tmp_path):
    result = import_fixture(tmp_path, "data-dirs", "--stack", "prod")
    moved = [t for t in result.todos if t.startswith("apps/photos.yaml services: the prod host is a new host")]
    assert len(moved) == 1 and "(thumbs)" in moved[0] and "scripts/volume restore" in moved[0]
