"""The executable schema: limits, error masking, metrics and logging around the types."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import strawberry
from graphql import (
    BREAK,
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    Visitor,
    visit,
)
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from pyservices.common.logging import get_logger
from pyservices.gateway.adapters.graphql_errors import outcome_of, should_mask_error
from pyservices.gateway.adapters.graphql_schema import Mutation, Query
from pyservices.gateway.metrics import GRAPHQL_REQUEST_SECONDS, GRAPHQL_REQUESTS

log = get_logger(__name__)

# Metric labels come from this closed set, never from client-chosen operation names.
KNOWN_ROOT_FIELDS = frozenset({"sendTask", "tasks", "task", "__schema", "__type", "__typename"})


# Distinct query texts whose parsed document and validation errors are kept.
DOCUMENT_CACHE_SIZE = 256


@dataclass(frozen=True)
class SchemaLimits:
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2500
    max_fields: int = 200
    introspection: bool = True


def max_fields_rule(limit: int) -> type[ValidationRule]:
    """Refuses a document with more than `limit` field selections, with that reason.

    Without it, a few hundred repeated fields still pass the token limit and then
    exhaust graphql-core's overlapping-fields budget, which answers only "Validation
    aborted.". Reported on entering the document, so it comes before that error.
    """

    class MaxFields(ValidationRule):
        def enter_document(self, node: DocumentNode, *_: object) -> object:
            counter = _FieldCounter()
            visit(node, counter)
            if counter.count > limit:
                self.report_error(
                    GraphQLError(
                        f"the query selects {counter.count} fields; at most {limit} are allowed"
                    )
                )
            return BREAK

    return MaxFields


def one_send_task_rule() -> type[ValidationRule]:
    """Refuses an operation with more than one sendTask field, whole, before anything runs.

    The limit on messages (the task service's MAX_MESSAGES) holds per request, not per
    field, and without this fifteen aliased sendTask fields would store fifteen times as
    many. One field, rather than the limit summed over the fields: sendTask already
    takes a list, so no client needs two; and a sum would have to be checked here, since
    mutation fields run one after another and each stores its tasks as it runs, which
    would copy the task service's limit into the gateway. Counted as written (through
    fragments, ignoring @skip/@include), so two copies that GraphQL would merge into one
    are refused too. A batch (a JSON array of operations) is refused by strawberry
    itself, since the schema does not enable batching.
    """

    class OneSendTask(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: object) -> None:
            if node.operation != OperationType.MUTATION:
                return
            count = _count_root_fields(node.selection_set, "sendTask", self.context, set())
            if count > 1:
                self.report_error(
                    GraphQLError(
                        f"a request may hold one sendTask field, this one holds {count}: "
                        "send all the messages in one sendTask(messages: [...]) (the limit "
                        "on messages applies to the whole request)",
                        node,
                    )
                )

    return OneSendTask


def _count_root_fields(
    selections: SelectionSetNode, name: str, context: ValidationContext, seen: set[str]
) -> int:
    """Fields called `name` among the root selections, through fragments (each once)."""
    count = 0
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            count += selection.name.value == name
        elif isinstance(selection, InlineFragmentNode):
            count += _count_root_fields(selection.selection_set, name, context, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            seen.add(selection.name.value)
            fragment = context.get_fragment(selection.name.value)
            if fragment is not None:
                count += _count_root_fields(fragment.selection_set, name, context, seen)
    return count


class _FieldCounter(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def enter_field(self, *_: object) -> None:
        self.count += 1


class GraphQLMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        operation = operation_label(context)
        # The errors as raised, before MaskErrors replaced any of them.
        errors = context.pre_execution_errors or getattr(context.result, "errors", None) or []
        outcome = outcome_of(errors[0]) if errors else "ok"
        GRAPHQL_REQUESTS.labels(operation, outcome).inc()
        GRAPHQL_REQUEST_SECONDS.labels(operation).observe(time.perf_counter() - started)


def operation_label(context: ExecutionContext) -> str:
    document = context.graphql_document
    if document is None:
        return "unparsed"
    names: set[str] = set()
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            for selection in definition.selection_set.selections:
                if isinstance(selection, FieldNode):
                    name = selection.name.value
                    names.add(name if name in KNOWN_ROOT_FIELDS else "other")
    return "+".join(sorted(names)) or "other"


class GatewaySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Called with the errors as raised (before masking): log the unexpected ones in
        # full; the client's own mistakes are not the server's errors.
        for error in errors:
            if should_mask_error(error):
                original = error.original_error
                log.error(
                    "graphql_unexpected_error",
                    path=error.path,
                    error=repr(original),
                    exc_info=original,
                )
            else:
                log.info("graphql_request_refused", path=error.path, reason=error.message)


def build_schema(limits: SchemaLimits) -> strawberry.Schema:
    # The rule classes are built once: a request's validation is then cached by query
    # text (which clients repeat), since the cache's key holds the rules as well. Their
    # order is that of the limits' own extensions, so a document's errors come in the
    # same order.
    rules: list[type[ASTValidationRule]] = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
        max_fields_rule(limits.max_fields),
        one_send_task_rule(),
    ]
    if not limits.introspection:
        rules.extend(DisableIntrospection().validation_rules)
    extensions: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
        GraphQLMetrics,
        lambda: MaskErrors(should_mask_error=should_mask_error),
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: AddValidationRules(rules),
        # Bounded LRU caches, so unique query texts cannot grow memory.
        lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
    ]
    return GatewaySchema(query=Query, mutation=Mutation, extensions=extensions)
