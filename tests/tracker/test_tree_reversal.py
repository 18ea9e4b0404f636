"""Connection reversal in the pure tree: who can feed whom, and how a node nobody can
dial is placed (tracker/tree.py, "Who can feed whom")."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.tree import Tree

HOME = "198.51.100.7"  # one household's public address
OTHER_HOME = "203.0.113.9"


def tree_with_source(capacity: int) -> Tree:
    tree = Tree()
    tree.add("cam", "cam", is_source=True, capacity=capacity)
    return tree


def viewer(
    tree: Tree,
    key: str,
    capacity: int = 0,
    *,
    dialable: bool = True,
    household: str | None = None,
    parent: str | None = None,
    measured: bool = False,
) -> None:
    """Add a viewer (its household defaults to one of its own), attached under `parent`."""
    node = tree.add(
        key,
        key,
        is_source=False,
        capacity=capacity,
        dialable=dialable,
        household=household if household is not None else f"192.0.2.{len(tree.nodes)}",
    )
    node.measured = measured
    if parent is not None:
        tree.attach(key, parent)


def edges(tree: Tree) -> list[tuple[str, str]]:
    return [(n.parent, n.key) for n in tree.nodes.values() if n.parent is not None]


# -- can_feed / dials_directly ----------------------------------------------------------


@pytest.mark.parametrize(
    ("parent_dialable", "child_dialable", "parent_home", "child_home", "feeds", "direct"),
    [
        (True, True, HOME, OTHER_HOME, True, True),
        (True, False, HOME, OTHER_HOME, True, True),  # the child dials the parent
        (False, True, HOME, OTHER_HOME, True, False),  # the parent dials the child
        (False, False, HOME, OTHER_HOME, False, False),  # nobody can dial anybody
        (False, False, HOME, HOME, True, True),  # one household: over their LAN
        (False, True, HOME, HOME, True, True),  # same LAN beats reversal
        (False, False, None, None, False, False),  # unknown addresses are no household
        (False, False, HOME, None, False, False),
    ],
)
def test_who_can_feed_whom_and_who_dials_directly(
    parent_dialable: bool,
    child_dialable: bool,
    parent_home: str | None,
    child_home: str | None,
    feeds: bool,
    direct: bool,
) -> None:
    tree = tree_with_source(1)
    tree.add(
        "up", "up", is_source=False, capacity=2, dialable=parent_dialable, household=parent_home
    )
    tree.add(
        "down", "down", is_source=False, capacity=0, dialable=child_dialable, household=child_home
    )
    assert tree.can_feed("up", "down") is feeds
    assert tree.dials_directly("up", "down") is direct


def test_set_dialable_changes_who_can_feed_whom() -> None:
    tree = tree_with_source(1)
    viewer(tree, "nat", 2, dialable=False, household=HOME, parent="cam")
    viewer(tree, "child", dialable=False, household=OTHER_HOME)
    assert not tree.can_feed("nat", "child")
    tree.set_dialable("child", True)
    assert tree.can_feed("nat", "child") and not tree.dials_directly("nat", "child")
    tree.set_dialable("nat", True)
    assert tree.dials_directly("nat", "child")


# -- choose_parent ------------------------------------------------------------------------


def test_no_parent_is_chosen_when_only_undialable_parents_have_slots_for_an_undialable_child() -> (
    None
):
    tree = tree_with_source(1)
    viewer(tree, "nat", 3, dialable=False, household=HOME, parent="cam")
    viewer(tree, "nat2", 3, dialable=False, household=HOME, parent="nat")
    viewer(tree, "stranger", dialable=False, household=OTHER_HOME)
    assert tree.choose_parent("stranger") is None
    assert tree.place(["stranger"]) == []
    assert tree["stranger"].depth is None and tree["stranger"].parent is None


def test_an_undialable_child_gets_an_undialable_parent_of_its_own_household() -> None:
    tree = tree_with_source(1)
    viewer(tree, "nat", 3, dialable=False, household=HOME, parent="cam")
    viewer(tree, "flatmate", dialable=False, household=HOME)
    assert tree.choose_parent("flatmate") == "nat"


def test_a_deeper_dialable_slot_is_taken_when_the_shallow_ones_cannot_feed_the_child() -> None:
    tree = tree_with_source(2)
    viewer(tree, "nat", 3, dialable=False, household=HOME, parent="cam")
    viewer(tree, "open", 1, parent="cam")
    viewer(tree, "open2", 2, parent="open")
    viewer(tree, "stranger", dialable=False, household=OTHER_HOME)
    # nat (depth 1, 3 spare) comes first in the open slots, but cannot feed stranger.
    assert tree.open_slots()[0].key == "nat"
    assert tree.choose_parent("stranger") == "open2"


def test_a_dialable_child_takes_an_undialable_slot_before_a_dialable_one_at_the_same_depth() -> (
    None
):
    tree = tree_with_source(2)
    viewer(tree, "open", 4, parent="cam")  # more spare: first in the open slots
    viewer(tree, "nat", 3, dialable=False, household=HOME, parent="cam")
    assert [n.key for n in tree.open_slots()][:2] == ["open", "nat"]
    viewer(tree, "public")
    assert tree.choose_parent("public") == "nat"
    # Excluding it (an avoidance) gives the next best.
    assert tree.choose_parent("public", exclude=["nat"]) == "open"
    # An undialable child keeps the usual order: nat's slots are no use to it.
    viewer(tree, "stranger", dialable=False, household=OTHER_HOME)
    assert tree.choose_parent("stranger") == "open"
    # One of nat's own household keeps the usual order as well.
    viewer(tree, "flatmate", dialable=False, household=HOME)
    assert tree.choose_parent("flatmate") == "open"


def test_a_dialable_child_does_not_go_deeper_for_an_undialable_slot() -> None:
    tree = tree_with_source(2)
    viewer(tree, "open", 1, parent="cam")  # cam keeps a free slot at depth 0
    viewer(tree, "nat", 3, dialable=False, household=HOME, parent="open")
    viewer(tree, "public")
    assert tree.choose_parent("public") == "cam"


def test_place_puts_a_dialable_child_under_an_undialable_relay_through_reversal() -> None:
    tree = tree_with_source(1)
    viewer(tree, "nat", 3, dialable=False, household=HOME, parent="cam")
    viewer(tree, "public")
    assert tree.place(["public"]) == ["public"]
    assert tree["public"].parent == "nat"
    assert not tree.dials_directly("nat", "public")


# -- an undialable relay never displaces a dialable one -----------------------------------


def test_an_undialable_relay_with_many_slots_does_not_take_a_full_dialable_relays_place() -> None:
    tree = tree_with_source(1)
    viewer(tree, "open", 1, parent="cam", measured=True)
    viewer(tree, "leaf", 0, parent="open")  # the tree is full
    viewer(tree, "nat", 10, dialable=False, household=HOME, measured=True)
    assert tree.place(["nat"]) == []
    assert tree["open"].parent == "cam" and tree["leaf"].parent == "open"
    assert tree["nat"].depth is None


def test_an_undialable_relay_with_many_slots_takes_a_free_slot_instead_of_a_place() -> None:
    tree = tree_with_source(1)
    viewer(tree, "open", 2, parent="cam", measured=True)
    viewer(tree, "leaf", 0, parent="open")
    viewer(tree, "nat", 10, dialable=False, household=HOME, measured=True)
    assert tree.place(["nat"]) == ["nat"]
    assert tree["open"].parent == "cam"
    assert tree["nat"].parent == "open" and tree["leaf"].parent == "open"


def test_the_same_relay_once_dialable_does_take_the_place() -> None:
    # The control for the two tests above: capacity alone would move it up.
    tree = tree_with_source(1)
    viewer(tree, "open", 1, parent="cam", measured=True)
    viewer(tree, "leaf", 0, parent="open")
    viewer(tree, "rich", 10, household=HOME, measured=True)
    assert "rich" in tree.place(["rich"])
    assert tree["rich"].parent == "cam" and tree["open"].parent == "rich"


def test_an_undialable_relay_is_never_promoted_above_a_dialable_parent() -> None:
    tree = tree_with_source(1)
    viewer(tree, "open", 1, parent="cam", measured=True)
    viewer(tree, "nat", 10, dialable=False, household=HOME, parent="open", measured=True)
    assert tree.promote() == []
    assert tree["open"].parent == "cam" and tree["nat"].parent == "open"
    # Once dialled back it offers slots everyone can use, and climbs.
    tree.set_dialable("nat", True)
    assert "nat" in tree.promote()
    assert tree["nat"].parent == "cam" and tree["open"].parent == "nat"


def test_a_dialable_relay_climbs_above_an_undialable_one_offering_more() -> None:
    tree = tree_with_source(1)
    viewer(tree, "nat", 10, dialable=False, household=HOME, parent="cam", measured=True)
    viewer(tree, "open", 2, parent="nat", measured=True)
    lifted = tree.promote()
    assert "open" in lifted
    assert tree["open"].parent == "cam" and tree["nat"].parent == "open"
    assert all(tree.can_feed(up, down) for up, down in edges(tree))


def test_a_dialable_newcomer_takes_an_undialable_relays_place_and_feeds_it() -> None:
    tree = tree_with_source(1)
    viewer(tree, "nat", 5, dialable=False, household=HOME, parent="cam")
    viewer(tree, "flatmate", 0, dialable=False, household=HOME, parent="nat")
    viewer(tree, "open", 2, measured=True)
    assert "open" in tree.place(["open"])
    # open adopts nat and its child: being dialable, it can feed both.
    assert tree["open"].parent == "cam" and tree["nat"].parent == "open"
    assert all(tree.can_feed(up, down) for up, down in edges(tree))


# -- choose_backup ------------------------------------------------------------------------


def test_an_undialable_viewer_is_no_backup_for_a_child_outside_its_household() -> None:
    tree = tree_with_source(2)
    viewer(tree, "open", 1, parent="cam")
    viewer(tree, "nat", 3, dialable=False, household=HOME, parent="cam")
    viewer(tree, "public", 0, household=OTHER_HOME, parent="open")  # dialable, elsewhere
    # nat holds the only free slots outside open's subtree.
    assert [n.key for n in tree.open_slots()] == ["nat"]
    assert tree.choose_backup("public") is None


def test_an_undialable_viewer_is_a_backup_for_a_child_of_its_own_household() -> None:
    tree = tree_with_source(2)
    viewer(tree, "open", 1, parent="cam")
    viewer(tree, "nat", 3, dialable=False, household=HOME, parent="cam")
    viewer(tree, "flatmate", 0, dialable=False, household=HOME, parent="open")
    assert tree.choose_backup("flatmate") == "nat"


def test_a_backup_is_chosen_among_the_dialable_candidates_only() -> None:
    tree = tree_with_source(5)
    viewer(tree, "open", 6, parent="cam")
    for i in range(3):
        viewer(tree, f"nat{i}", 3, dialable=False, household=f"10.9.9.{i}", parent="cam")
    viewer(tree, "other", 1, parent="cam")  # dialable, one free slot, ranked last
    for i in range(6):
        viewer(tree, f"pub{i}", 0, household=f"192.0.2.{100 + i}", parent="open")
    assert [n.key for n in tree.open_slots()] == ["nat0", "nat1", "nat2", "other"]
    # Whatever the spread over the best candidates picks, it is the one they can dial.
    assert {tree.choose_backup(f"pub{i}") for i in range(6)} == {"other"}


# -- capacity totals --------------------------------------------------------------------


def test_set_dialable_changes_the_capacity_the_depth_calculations_see() -> None:
    tree = tree_with_source(1)
    viewer(tree, "r1", 3, parent="cam")
    viewer(tree, "r2", 3, parent="r1")
    for i in range(3):
        viewer(tree, f"l{i}", 0, parent="r2" if i < 2 else "r1")
    # Ranks 3, 3, 0, 0, 0: one at the root's slot, three below, one more below those.
    assert tree.sorted_depth() == 3
    # Mean capacity 6/5 under a root of 1: ideal_depth 3, plus one.
    assert tree.depth_limit() == 4
    version = tree.version
    tree.set_dialable("r1", False)
    assert tree.version > version
    # Ranks 3, 0, 0, 0, 0: two levels hold four of the five.
    assert tree.sorted_depth() == 0
    # Mean 3/5, under one slot a level: a chain of five, plus one.
    assert tree.depth_limit() == 6
    tree.set_dialable("r1", True)
    assert tree.sorted_depth() == 3 and tree.depth_limit() == 4


def test_set_dialable_to_what_it_already_is_changes_nothing() -> None:
    tree = tree_with_source(1)
    viewer(tree, "nat", 3, dialable=False, household=HOME, parent="cam")
    version, limit = tree.version, tree.depth_limit()
    tree.set_dialable("nat", False)
    assert tree.version == version and tree.depth_limit() == limit


def test_an_undialable_viewer_counts_as_no_slots_in_the_depth_limit() -> None:
    # The same viewers, one tree with a relay nobody can dial, one where the relay
    # offers nothing at all: the limits agree.
    undialable, leaf = tree_with_source(1), tree_with_source(1)
    for tree, relay_capacity, dialable in ((undialable, 4, False), (leaf, 0, True)):
        viewer(tree, "r", relay_capacity, dialable=dialable, household=HOME)
        for i in range(4):
            viewer(tree, f"v{i}", 1)
    assert undialable.depth_limit() == leaf.depth_limit()
    # Its capacity may change while it cannot be dialled: it still counts as none.
    undialable.set_capacity("r", 9)
    assert undialable.depth_limit() == leaf.depth_limit()
    undialable.remove("r")
    leaf.remove("r")
    assert undialable.depth_limit() == leaf.depth_limit()


# -- properties -------------------------------------------------------------------------

HOUSEHOLDS = st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3", None])
VIEWER = st.tuples(st.integers(0, 4), st.booleans(), HOUSEHOLDS, st.booleans())


def rebuilt_limit(tree: Tree) -> int:
    """The depth limit of a fresh tree with the same nodes (the totals from scratch)."""
    fresh = Tree()
    for node in tree.nodes.values():
        fresh.add(
            node.key,
            node.name,
            is_source=node.is_source,
            capacity=node.capacity,
            dialable=node.dialable,
            household=node.household,
        )
    return fresh.depth_limit()


@settings(derandomize=True, max_examples=150, deadline=None, database=None)
@given(
    source_capacity=st.integers(1, 3),
    viewers=st.lists(VIEWER, min_size=1, max_size=14),
    steps=st.lists(st.tuples(st.sampled_from("rcdpx"), st.integers(0, 13)), max_size=12),
)
def test_every_link_the_tree_makes_can_be_made_and_backups_need_no_reversal(
    source_capacity: int,
    viewers: list[tuple[int, bool, str | None, bool]],
    steps: list[tuple[str, int]],
) -> None:
    tree = tree_with_source(source_capacity)
    for i, (capacity, dialable, household, measured) in enumerate(viewers):
        node = tree.add(
            f"v{i}",
            f"v{i}",
            is_source=False,
            capacity=capacity,
            dialable=dialable,
            household=household,
        )
        node.measured = measured
        tree.place(tree.detached_roots())
        check(tree)
    for op, index in steps:
        key = f"v{index}"
        if key not in tree:
            continue
        if op == "r":  # a viewer leaves: its children are placed anew
            tree.place(tree.remove(key))
        elif op == "c":
            tree.set_capacity(key, (tree[key].capacity + 2) % 5)
        elif op == "d" and tree[key].depth is None and not tree[key].children:
            # A waiting leaf's probe result (links already made are kept as they are).
            tree.set_dialable(key, not tree[key].dialable)
        elif op == "p":
            tree.promote()
        elif op == "x":
            tree.raise_deep()
        tree.place(tree.detached_roots())
        check(tree)


def check(tree: Tree) -> None:
    for up, down in edges(tree):
        assert tree.can_feed(up, down), f"{up} cannot feed {down}"
    assert tree.depth_limit() == rebuilt_limit(tree)
    for node in tree.nodes.values():
        if node.depth is not None and not node.is_source:
            backup = tree.choose_backup(node.key)
            assert backup is None or tree.dials_directly(backup, node.key), (backup, node.key)
        if node.depth is None and not node.is_source:
            parent = tree.choose_parent(node.key)
            assert parent is None or tree.can_feed(parent, node.key)
