"""How the relay groups short tasks into `task.created.batch` messages."""

from __future__ import annotations

from pamqp.commands import Basic

from pyservices.common.topology import LARGE_PROCESS_QUEUE, PROCESS_QUEUE
from pyservices.publisher.adapters.rabbitmq import AmqpEventPublisher, _Route, message_groups


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


def test_the_depth_of_task_process_is_read_at_the_tasks_per_message_sent_lately() -> None:
    publisher = object.__new__(AmqpEventPublisher)  # only its bookkeeping, no broker
    publisher._process_sent = (1.0, 1.0)
    to_process = _Route("", PROCESS_QUEUE, True, "1", Basic.Properties(), b"[]")
    elsewhere = _Route("", LARGE_PROCESS_QUEUE, True, "2", Basic.Properties(), b"{}")

    for _ in range(30):  # batches of 100, and a single (a traced task) beside each
        publisher._count_sent([(list(range(100)), to_process), ([0], to_process)])
    assert 49 < publisher.tasks_per_message_sent < 51  # weighted by messages

    for _ in range(30):  # then one task at a time, and large tasks (not counted)
        publisher._count_sent([([0], to_process), ([1], elsewhere)])
    assert publisher.tasks_per_message_sent < 1.1
