from __future__ import annotations

import uuid

import pytest

from pyservices.task_service import domain
from pyservices.task_service.domain import (
    Ack,
    AckStatus,
    InvalidRequest,
    MessageLimits,
    PageLimits,
    ProcessedResult,
)

LIMITS = MessageLimits(max_messages=3, max_message_bytes=8)
PAGES = PageLimits(default_size=50, max_size=1000, max_bytes=16 << 20)
MIB = 1 << 20
BOTH = domain.ALL_FIELDS


class TestNewTasks:
    def test_gives_each_message_its_own_uuid4_in_the_order_sent(self) -> None:
        tasks = domain.new_tasks(["a", " b ", "c"], LIMITS)
        assert [t.message for t in tasks] == ["a", " b ", "c"]
        assert len({t.id for t in tasks}) == 3
        assert all(t.id.version == 4 for t in tasks)

    def test_refuses_an_empty_request(self) -> None:
        with pytest.raises(InvalidRequest, match="at least one message"):
            domain.new_tasks([], LIMITS)

    @pytest.mark.parametrize("message", ["", " ", "\t\n", "\u00a0\u2003"])
    def test_refuses_empty_or_whitespace_messages_naming_the_index(self, message: str) -> None:
        with pytest.raises(
            InvalidRequest, match=r"messages\[1\]: message is empty or only whitespace"
        ):
            domain.new_tasks(["ok", message], LIMITS)

    @pytest.mark.parametrize("message", ["\x1f", "\x1c\x1d\x1e", "\u200b", "\ufeff"])
    def test_control_and_invisible_characters_are_not_whitespace(self, message: str) -> None:
        [task] = domain.new_tasks([message], LIMITS)

        assert task.message == message

    def test_blank_is_pythons_whitespace_without_the_four_separators(self) -> None:
        separators = "\x1c\x1d\x1e\x1f"
        for code in range(0x110000):
            character = chr(code)
            expected = character.isspace() and character not in separators
            assert domain.is_blank(character) == expected, hex(code)

    def test_refuses_more_messages_than_the_limit(self) -> None:
        with pytest.raises(InvalidRequest, match="too many messages: at most 3"):
            domain.new_tasks(["a"] * 4, LIMITS)

    def test_measures_size_in_utf8_bytes(self) -> None:
        assert domain.new_tasks(["12345678"], LIMITS)
        with pytest.raises(InvalidRequest, match=r"messages\[0\]: message is 10 bytes of UTF-8"):
            domain.new_tasks(["ééééé"], LIMITS)

    def test_refuses_the_nul_character(self) -> None:
        with pytest.raises(InvalidRequest, match=r"messages\[0\]: .*U\+0000"):
            domain.new_tasks(["a\x00b"], LIMITS)

    def test_refuses_a_lone_surrogate(self) -> None:
        with pytest.raises(InvalidRequest, match="lone surrogate"):
            domain.new_tasks(["\ud800"], LIMITS)

    def test_reports_several_violations_in_one_message(self) -> None:
        with pytest.raises(InvalidRequest) as caught:
            domain.new_tasks(["", "ok", "123456789"], LIMITS)
        assert "messages[0]" in str(caught.value)
        assert "messages[2]" in str(caught.value)

    def test_reports_only_the_first_few_violations(self) -> None:
        many = MessageLimits(max_messages=100, max_message_bytes=8)
        with pytest.raises(InvalidRequest) as caught:
            domain.new_tasks([""] * 20, many)
        assert "messages[4]" in str(caught.value)
        assert "messages[5]" not in str(caught.value)
        assert "(and 15 more)" in str(caught.value)


class TestParseResult:
    def test_accepts_a_uuid_and_a_code_of_whole_bytes(self) -> None:
        task_id = uuid.uuid4()
        assert domain.parse_result(str(task_id), "01000001", 8) == ProcessedResult(
            task_id, "01000001"
        )

    @pytest.mark.parametrize(
        ("code", "reason"),
        [
            ("", "empty"),
            ("0100000", "not a multiple of 8"),
            ("0100000a", "only the characters 0 and 1"),
            ("01000001" * 9, "longer than"),
        ],
    )
    def test_refuses_a_malformed_code(self, code: str, reason: str) -> None:
        raw_id = str(uuid.uuid4())
        ack = domain.parse_result(raw_id, code, 8)
        assert isinstance(ack, Ack)
        assert (ack.id, ack.status) == (raw_id, AckStatus.INVALID)
        assert reason in ack.detail

    def test_refuses_an_id_that_is_not_a_uuid(self) -> None:
        ack = domain.parse_result("task-1", "01000001", 8)
        assert ack == Ack("task-1", AckStatus.INVALID, "id 'task-1' is not a UUID")


class TestPage:
    def test_zero_limit_means_the_default_page_size(self) -> None:
        assert domain.page(0, 0, PAGES) == (50, 0)

    def test_keeps_a_limit_within_bounds(self) -> None:
        assert domain.page(1000, 7, PAGES) == (1000, 7)

    @pytest.mark.parametrize(
        ("limit", "offset", "reason"),
        [(-1, 0, "limit must not be negative"), (1001, 0, "at most 1000"), (1, -1, "offset")],
    )
    def test_refuses_out_of_range_values_instead_of_capping(
        self, limit: int, offset: int, reason: str
    ) -> None:
        with pytest.raises(InvalidRequest, match=reason):
            domain.page(limit, offset, PAGES)


class TestCheckPageBytes:
    def test_a_page_within_the_budget_passes(self) -> None:
        domain.check_page_bytes([MIB] * 16, 16 * MIB, BOTH)

    def test_a_page_over_the_budget_names_the_largest_limit_that_fits(self) -> None:
        # 72 tasks of a 64 KiB message and its 512 KiB code: 40.5 MiB.
        sizes = [9 * 64 * 1024] * 72
        with pytest.raises(InvalidRequest) as refused:
            domain.check_page_bytes(sizes, 16 * MIB, BOTH)
        assert str(refused.value) == (
            "this page holds 40.5 MiB of messages and binary codes, over the limit of 16 MiB: "
            "ask for at most 28 tasks (limit: 28) and page with offset, or select fewer fields"
        )

    def test_names_only_the_fields_selected(self) -> None:
        fields = domain.TaskFields(message=False, binary_code=True)
        with pytest.raises(InvalidRequest, match=r"^this page holds 3 KiB of binary codes, "):
            domain.check_page_bytes([1024] * 3, 2048, fields)

    def test_a_total_that_rounds_to_the_limit_is_said_in_bytes(self) -> None:
        with pytest.raises(InvalidRequest, match=r"holds 1048577 bytes .* of 1048576 bytes"):
            domain.check_page_bytes([MIB, 1], MIB, BOTH)

    def test_one_task_over_the_budget_says_to_select_fewer_fields(self) -> None:
        with pytest.raises(InvalidRequest, match="first task of this page alone holds 2 MiB"):
            domain.check_page_bytes([2 * MIB, 1], MIB, BOTH)
