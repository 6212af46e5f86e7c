"""The pure sync planner: what it decides, in which order, and that its plan is complete."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from remoteops.sync import ActionKind, Entry, Kind, Plan, SyncOptions, plan_sync
from remoteops.sync.plan import LEFTOVER_AGE_S
from remoteops.tree import Fidelity, Times


def f(path: str, size: int = 10, mtime: int = 1000, mode: int = 0o644, digest: str = "d") -> Entry:
    return Entry(path, Kind.FILE, size, mtime, mode, digest=digest)


def d(path: str, mode: int = 0o755) -> Entry:
    return Entry(path, Kind.DIR, mode=mode)


def link(path: str, target: str) -> Entry:
    return Entry(path, Kind.SYMLINK, mode=0o777, target=target)


def kinds(plan: Plan) -> list[tuple[str, str]]:
    return [(a.kind.value, a.path) for a in plan.actions]


SOURCE = [d("a"), d("a/b"), f("a/b/one"), f("a/two"), f("top"), link("a/ln", "two"), d("empty")]


def test_first_copy_creates_parents_before_children_then_files_and_links() -> None:
    plan = plan_sync(SOURCE, [], SyncOptions())
    assert kinds(plan) == [
        ("mkdir", "a"),
        ("mkdir", "a/b"),
        ("mkdir", "empty"),
        ("upload", "a/b/one"),
        ("upload", "a/two"),
        ("upload", "top"),
        ("symlink", "a/ln"),
    ]
    assert all(a.reason == "new" for a in plan.actions)
    assert plan.bytes_to_send == 30
    assert plan.ok


def test_identical_trees_need_nothing() -> None:
    plan = plan_sync(SOURCE, SOURCE, SyncOptions(delete=True))
    assert plan.actions == ()
    assert plan.unchanged == len(SOURCE)


def test_changed_size_or_time_uploads_with_the_reason() -> None:
    remote = [f("x", size=9), f("y", mtime=999), f("z")]
    plan = plan_sync([f("x"), f("y"), f("z")], remote, SyncOptions())
    assert [(a.kind, a.path, a.reason) for a in plan.actions] == [
        (ActionKind.UPLOAD, "x", "size differs (9 -> 10 bytes)"),
        (ActionKind.UPLOAD, "y", "modification time differs"),
    ]
    assert plan.unchanged == 1


def test_checksum_compares_content_and_only_touches_a_moved_time() -> None:
    local = [f("same", digest="aa"), f("edited", digest="bb")]
    remote = [f("same", mtime=5, digest="aa"), f("edited", digest="cc")]
    plan = plan_sync(local, remote, SyncOptions(checksum=True))
    assert kinds(plan) == [("upload", "edited"), ("touch", "same")]
    assert plan.actions[0].reason == "content differs (checksum)"


def test_mode_change_alone_is_a_chmod() -> None:
    plan = plan_sync([f("run.sh", mode=0o755)], [f("run.sh", mode=0o644)], SyncOptions())
    assert [(a.kind, a.reason) for a in plan.actions] == [
        (ActionKind.CHMOD, "mode differs (0644 -> 0755)")
    ]


def test_deletions_come_last_children_first_and_only_with_delete() -> None:
    remote = [*SOURCE, d("old"), d("old/deep"), f("old/deep/x"), f("stale")]
    assert plan_sync(SOURCE, remote, SyncOptions()).actions == ()
    plan = plan_sync([*SOURCE, f("new")], remote, SyncOptions(delete=True))
    assert kinds(plan) == [
        ("upload", "new"),
        ("delete", "stale"),
        ("delete", "old/deep/x"),
        ("delete", "old/deep"),
        ("delete", "old"),
    ]
    assert all(a.reason == "not in the source" for a in plan.actions[1:])


def test_max_delete_blocks_the_plan() -> None:
    remote = [f("a"), f("b"), f("c")]
    assert plan_sync([], remote, SyncOptions(delete=True, max_delete=3)).ok
    blocked = plan_sync([], remote, SyncOptions(delete=True, max_delete=2))
    assert not blocked.ok
    assert blocked.problems == ("would delete 3 entries, more than --max-delete 2",)


def test_excluded_paths_are_neither_sent_nor_deleted() -> None:
    local = [f("app.py"), f("debug.log"), d("build"), f("build/out.o"), f("keep.log")]
    remote = [f("remote.log"), d("build"), f("build/old.o")]
    options = SyncOptions(delete=True, excludes=("*.log", "build/", "!keep.log"))
    assert kinds(plan_sync(local, remote, options)) == [
        ("upload", "app.py"),
        ("upload", "keep.log"),
    ]


def test_kind_change_needs_delete_and_then_replaces_whole() -> None:
    local = [f("conf"), d("data"), f("data/x")]
    remote = [d("conf"), f("conf/inner"), f("data")]
    refused = plan_sync(local, remote, SyncOptions())
    assert not refused.ok
    assert any("conf: is a dir on the host, a file here" in p for p in refused.problems)
    plan = plan_sync(local, remote, SyncOptions(delete=True))
    assert kinds(plan) == [
        ("replace", "conf"),
        ("replace", "data"),
        ("mkdir", "data"),
        ("upload", "conf"),
        ("upload", "data/x"),
    ]  # conf/inner goes with its directory: no separate delete


def test_changed_link_target_is_relinked() -> None:
    plan = plan_sync([link("ln", "new")], [link("ln", "old")], SyncOptions())
    assert [(a.kind, a.reason) for a in plan.actions] == [
        (ActionKind.SYMLINK, "link target differs")
    ]


# -- completeness: applying the plan to the remote tree gives the source tree ---------------

names = st.sampled_from(["a", "b", "c", "d e", "ü"])
paths = st.lists(names, min_size=1, max_size=3).map("/".join)


@st.composite
def trees(draw: st.DrawFn) -> dict[str, Entry]:
    tree: dict[str, Entry] = {}
    for path in draw(st.lists(paths, max_size=12)):
        parts = path.split("/")
        if any("/".join(parts[:i]) in tree and tree["/".join(parts[:i])].kind is not Kind.DIR
               for i in range(1, len(parts))):  # fmt: skip
            continue
        for i in range(1, len(parts)):
            tree.setdefault("/".join(parts[:i]), d("/".join(parts[:i])))
        if path in tree:
            continue
        kind = draw(st.sampled_from(list(Kind)))
        if kind is Kind.FILE:
            tree[path] = f(path, draw(st.integers(0, 3)), draw(st.integers(0, 2)))
        elif kind is Kind.DIR:
            tree[path] = d(path, draw(st.sampled_from([0o755, 0o700])))
        else:
            tree[path] = link(path, draw(st.sampled_from(["x", "y"])))
    return tree


def apply(plan: Plan, remote: dict[str, Entry]) -> dict[str, Entry]:
    """A model of the apply step on an in-memory tree."""
    tree = dict(remote)
    for action in plan.actions:
        if action.kind in (ActionKind.REPLACE, ActionKind.DELETE):
            for path in [p for p in tree if p == action.path or p.startswith(action.path + "/")]:
                del tree[path]
        elif action.kind in (ActionKind.MKDIR, ActionKind.UPLOAD, ActionKind.SYMLINK):
            assert action.entry is not None
            parent = action.path.rpartition("/")[0]
            assert not parent or tree[parent].kind is Kind.DIR, f"no parent for {action.path}"
            tree[action.path] = action.entry
        else:  # CHMOD, TOUCH
            assert action.entry is not None
            tree[action.path] = dataclasses.replace(
                tree[action.path], mode=action.entry.mode, mtime=action.entry.mtime
            )
    return tree


@settings(max_examples=300, deadline=None)
@given(trees(), trees())
def test_applying_a_delete_plan_reproduces_the_source(
    source: dict[str, Entry], remote: dict[str, Entry]
) -> None:
    plan = plan_sync(source.values(), remote.values(), SyncOptions(delete=True))
    assert plan.ok
    assert apply(plan, remote) == source
    again = plan_sync(source.values(), apply(plan, remote).values(), SyncOptions(delete=True))
    assert again.actions == ()


def test_a_deleted_folder_keeps_excluded_files_on_the_host() -> None:
    remote = [d("old"), f("old/keep.log"), f("old/gone.txt")]
    plan = plan_sync([], remote, SyncOptions(delete=True, excludes=("*.log",)))
    assert kinds(plan) == [("delete", "old/gone.txt")]  # not "old": keep.log lives there


def test_replacing_a_folder_counts_its_contents_against_max_delete() -> None:
    remote = [d("data"), *(f(f"data/{n}") for n in range(100))]
    plan = plan_sync([f("data")], remote, SyncOptions(delete=True, max_delete=1))
    assert not plan.ok
    assert "would delete 101 entries" in plan.problems[0]


def test_leftover_temporaries_are_removed_but_a_source_file_of_that_shape_is_kept() -> None:
    lookalike = "a/.x.remoteops-0123abcd.tmp"
    leftover = "a/.y.remoteops-89abcdef.tmp"
    local = [d("a"), f(lookalike)]
    plan = plan_sync(local, [d("a"), f(lookalike), f(leftover)], SyncOptions())
    assert kinds(plan) == [("delete", leftover)]
    assert plan.unchanged == 2


def test_a_temporary_changed_within_the_hour_is_another_syncs_and_left_alone() -> None:
    """Only a temporary unchanged for LEFTOVER_AGE_S is a leftover: a young one, or one whose
    mtime was just set back to its source's but whose ctime is recent, is neither removed,
    nor counted, nor deleted by --delete, nor is what a young staged folder holds."""
    now = 10_000_000
    hour = LEFTOVER_AGE_S
    old = dataclasses.replace(f("a/.old.remoteops-00000001.tmp", mtime=now - hour), changed=0)
    young = f("a/.young.remoteops-00000002.tmp", mtime=now - 5)
    restamped = dataclasses.replace(f("a/.back.remoteops-00000003.tmp", mtime=5), changed=now - 1)
    stage = dataclasses.replace(d("a/.new.remoteops-00000004.tmp"), changed=now - 2)
    remote = [d("a"), old, young, restamped, stage, f(f"{stage.path}/inside", mtime=5)]
    plan = plan_sync([d("a")], remote, SyncOptions(delete=True), now=now)
    assert kinds(plan) == [("delete", old.path)]
    assert plan.unchanged == 1


def test_host_folders_without_write_permission_are_listed_to_unlock_parents_first() -> None:
    remote = [d("a", 0o555), d("a/b", 0o500), f("a/b/one"), d("c", 0o555), f("c/same")]
    local = [d("a", 0o555), d("a/b", 0o500), f("a/b/one", size=11), f("a/new"), d("c", 0o555),
             f("c/same")]  # fmt: skip
    plan = plan_sync(local, remote, SyncOptions())
    assert [e.path for e in plan.locked] == ["a", "a/b"]  # c gets nothing: stays as it is
    assert [e.mode for e in plan.locked] == [0o555, 0o500]


def test_a_leftover_temporary_folder_is_removed_whole() -> None:
    stage = "a/.new.remoteops-0123abcd.tmp"
    remote = [d("a"), d(stage), d(f"{stage}/sub"), f(f"{stage}/sub/half"), link(f"{stage}/l", "x")]
    plan = plan_sync([d("a")], remote, SyncOptions(delete=True))
    assert kinds(plan) == [("delete", stage)]
    assert plan.actions[0].entry is not None
    assert plan.actions[0].entry.kind is Kind.DIR


def test_temporaries_inside_excluded_folders_are_left_alone_and_newlines_are_matched() -> None:
    kept = "cache/.db.remoteops-0badcafe.tmp"
    odd = "a/.x\ny.remoteops-0badcafe.tmp"
    remote = [d("a"), d("cache"), f(kept), f(odd)]
    plan = plan_sync([d("a")], remote, SyncOptions(excludes=("cache/",)))
    assert kinds(plan) == [("delete", odd)]


def test_a_host_without_modes_gets_no_chmod_and_its_default_modes_are_not_a_change() -> None:
    plan = plan_sync(
        [f("run.sh", mode=0o755)], [f("run.sh", mode=0o644)], SyncOptions(), Fidelity(modes=False)
    )
    assert plan.actions == ()
    assert plan.unchanged == 1


def test_a_host_that_cannot_set_times_resends_only_what_changed_here_since() -> None:
    """Without MFMT the host's time is when we sent it: newer than ours means up to date."""
    remote = [f("sent", mtime=2000), f("edited", mtime=2000), f("grown", size=9, mtime=2000)]
    local = [f("sent", mtime=1000), f("edited", mtime=3000), f("grown", mtime=1000)]
    plan = plan_sync(local, remote, SyncOptions(), Fidelity(times=Times.READ))
    assert [(a.kind, a.path, a.reason) for a in plan.actions] == [
        (ActionKind.UPLOAD, "edited", "changed here since it was sent"),
        (ActionKind.UPLOAD, "grown", "size differs (9 -> 10 bytes)"),
    ]


def test_a_host_clock_ahead_of_ours_still_shows_edits_made_after_the_upload() -> None:
    """Uploaded at our 1400 on a server an hour ahead: it says 5000. An edit at our 2000 is
    newer than the upload, though older than the server's stamp."""
    fidelity = Fidelity(times=Times.READ, skew_s=3600)
    remote = [f("edited", mtime=5000), f("kept", mtime=5000)]
    plan = plan_sync([f("edited", mtime=2000), f("kept", mtime=1000)], remote, SyncOptions(),
                     fidelity)  # fmt: skip
    assert kinds(plan) == [("upload", "edited")]


def test_a_host_without_exact_times_compares_sizes_only() -> None:
    remote = [f("same", mtime=5), f("other", size=11, mtime=5)]
    plan = plan_sync([f("same"), f("other")], remote, SyncOptions(), Fidelity(times=Times.NONE))
    assert kinds(plan) == [("upload", "other")]


def test_a_host_that_cannot_make_links_refuses_a_plan_that_needs_one() -> None:
    """FTP: a new link, or one whose target changed, refuses the whole plan before anything is
    written (the dry run says so too); a link already there as wanted needs nothing."""
    no_links = Fidelity(links=False)
    local = [d("www"), f("www/index.html"), link("www/latest", "index.html"), link("same", "x")]
    plan = plan_sync(local, [link("same", "x")], SyncOptions(), no_links)
    assert not plan.ok
    assert plan.unsupported == (
        "this host cannot make symlinks: www/latest (-L copies what they point to)",
    )
    assert plan.problems == ()
    relinked = plan_sync([link("ln", "new")], [link("ln", "old")], SyncOptions(), no_links)
    assert relinked.unsupported == (
        "this host cannot make symlinks: ln (-L copies what they point to)",
    )
    assert plan_sync([link("same", "x")], [link("same", "x")], SyncOptions(), no_links).ok
    assert plan_sync(local, [], SyncOptions()).ok
