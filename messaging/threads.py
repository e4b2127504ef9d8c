"""Assemble a reply tree from the flat rows of the recursive thread query.

The page nests each node's replies in a group right after it, so a new reply can be
appended to the group of the message it answers wherever that message is shown, and
indentation comes from the nesting itself: app.css indents five levels, then deeper
replies stay flat and say whom they answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import Message


@dataclass
class Node:
    message: Message
    depth: int
    children: list[Node] = field(default_factory=list)
    # How many reply groups end right after this node: its own when it has no replies,
    # plus those of the ancestors whose last descendant it is. Set by walk(); a node
    # drawn on its own (a new reply) closes just its own group.
    closes: int = 1

    @property
    def close_range(self) -> range:
        return range(self.closes)


def build_tree(root: Message, rows) -> list[Node]:
    """Turn rows (root and descendants, each with `depth`, ordered by time) into the
    list of the root's reply nodes, each holding its own replies. One pass, no queries."""
    nodes: dict[int, Node] = {}
    top: list[Node] = []
    for message in rows:
        node = Node(message, message.depth)
        nodes[message.pk] = node
        if message.pk == root.pk:
            continue
        parent = nodes.get(message.parent_message_id)
        if parent is None or message.parent_message_id == root.pk:
            top.append(node)
        else:
            parent.children.append(node)
        if parent is not None:
            message.parent_sender = parent.message.sender
    # A deleted reply stays (as "Message deleted") only while it has replies that are shown;
    # replies come after what they answer, so going backwards settles children first.
    for message in reversed(rows):
        node = nodes[message.pk]
        if message.deleted_at is not None and not node.children and message.pk != root.pk:
            parent = nodes.get(message.parent_message_id)
            siblings = top if parent is None or message.parent_message_id == root.pk else parent.children
            siblings.remove(node)
    return top


def walk(nodes: list[Node]):
    """Depth-first, in display order, each node with `closes` set: a template loops over
    this and still nests the groups, without recursive includes (a thread can be 50 deep)."""
    # Each entry: a node and how many ancestor groups end after its subtree.
    stack = [(node, 0) for node in reversed(nodes)]
    while stack:
        node, pending = stack.pop()
        if node.children:
            node.closes = 0  # its group stays open for its replies; the last one closes it
            stack.append((node.children[-1], pending + 1))
            stack.extend((child, 0) for child in reversed(node.children[:-1]))
        else:
            node.closes = 1 + pending
        yield node


# --- The thread page: in pieces, from light rows ----------------------------------------------


@dataclass
class Outline:
    """A thread's shape from the light rows of the recursive query: each reply's id, parent,
    depth and sender, in display order (depth first, each group by time)."""

    order: list[int]
    parent: dict[int, int]
    depth: dict[int, int]
    sender: dict[int, int]
    version: int


def outline(root_id: int, rows) -> Outline:
    """rows: (id, parent id, depth, sender id, deleted (truthy), changed_version), ordered by time.
    A deleted reply stays only while it has replies that are shown (as build_tree)."""
    # Comprehensions, not one loop doing it all: at 3,000 replies this is a page's largest
    # Python cost after the query itself.
    depth = {row[0]: row[2] for row in rows}
    sender = {row[0]: row[3] for row in rows}
    version = max((row[5] for row in rows), default=0)
    parent = {row[0]: row[1] for row in rows if row[0] != root_id}  # in time order, as the rows
    children: dict[int, list[int]] = {}
    for pk, parent_id in parent.items():
        group = children.get(parent_id)
        if group is None:
            children[parent_id] = [pk]
        else:
            group.append(pk)
    deleted = {row[0] for row in rows if row[4] and row[0] != root_id}
    if deleted:
        # Replies come after what they answer: going backwards settles children first.
        for pk in reversed(list(parent)):
            if pk in deleted and not children.get(pk):
                children[parent[pk]].remove(pk)
    order, stack = [], list(reversed(children.get(root_id, [])))
    while stack:
        pk = stack.pop()
        order.append(pk)
        stack.extend(reversed(children.get(pk, ())))
    return Outline(order, parent, depth, sender, version)


@dataclass
class Run:
    """Consecutive replies of one page that hang under one message (`under`): the first
    is a direct reply to it, the others nest below it or follow it. Drawn as one piece:
    each reply, then the group of its own replies, which `closes` ends."""

    under: int
    nodes: list


def runs_of(piece: list[int], shape: Outline) -> list[Run]:
    """Cut a slice of the display order into runs and give every node how many groups end
    right after it (`closes`), so each run's markup is complete on its own: the next piece
    of a thread is appended to the groups already on the page, wherever they are."""
    runs: list[Run] = []
    start_depth = None
    for pk in piece:
        level = shape.depth[pk]
        if start_depth is None or level < start_depth:
            runs.append(Run(shape.parent[pk], []))
            start_depth = level
        runs[-1].nodes.append([pk, level - start_depth])
    for run in runs:
        for i, node in enumerate(run.nodes):
            following = run.nodes[i + 1][1] if i + 1 < len(run.nodes) else 0
            node[1] = node[1] + 1 - following
    return runs
