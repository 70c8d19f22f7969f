"""How the relay groups short tasks into `task.created.batch` messages."""

from __future__ import annotations

from pyservices.publisher.adapters.rabbitmq import message_groups


def test_no_payloads_no_messages() -> None:
    assert message_groups([], 100) == []


def test_at_most_per_message_tasks_to_a_message_in_order() -> None:
    assert message_groups([10] * 7, 3) == [[0, 1, 2], [3, 4, 5], [6]]


def test_one_per_message_is_one_task_each() -> None:
    assert message_groups([10, 10], 1) == [[0], [1]]


def test_a_message_stays_within_the_byte_limit_counting_brackets_and_commas() -> None:
    # Three payloads of 10 bytes joined are 1 + 10 + 1 + 10 + 1 + 10 + 1 = 34 bytes.
    assert message_groups([10, 10, 10], 100, max_bytes=34) == [[0, 1, 2]]
    assert message_groups([10, 10, 10], 100, max_bytes=33) == [[0, 1], [2]]


def test_a_payload_over_the_byte_limit_goes_alone() -> None:
    assert message_groups([5, 500, 5], 100, max_bytes=100) == [[0], [1], [2]]
