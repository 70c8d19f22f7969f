"""common/tracing.py: off unless an OTLP endpoint is set; on, spans continue across a
stored `traceparent`, sampled as the standard variables say (docs/tracing.md)."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from pyservices.common import tracing
from tests.unit.common.traced import is_child, one, traceparent_of, tracing_on

STORED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
UNSAMPLED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


@pytest.fixture(autouse=True)
def no_tracing_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_SDK_DISABLED",
        "OTEL_SERVICE_NAME",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
    ):
        monkeypatch.delenv(name, raising=False)


class TestOff:
    @pytest.mark.parametrize(
        "environ",
        [
            {},
            {"OTEL_EXPORTER_OTLP_ENDPOINT": ""},
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "  "},
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"},
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1", "OTEL_SDK_DISABLED": "TRUE"},
        ],
    )
    def test_not_requested_without_an_endpoint_or_when_disabled(
        self, environ: dict[str, str]
    ) -> None:
        assert not tracing.requested(environ)

    @pytest.mark.parametrize(
        "environ",
        [
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"},
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "false"},
        ],
    )
    def test_requested_with_either_endpoint(self, environ: dict[str, str]) -> None:
        assert tracing.requested(environ)

    def test_configure_installs_nothing_and_nothing_is_formatted(self) -> None:
        assert not tracing.configure_tracing("binconv-test", ("grpc_server", "asyncpg"))

        assert not tracing.enabled()
        assert not isinstance(trace.get_tracer_provider(), TracerProvider)
        with tracing.tracer(__name__).start_as_current_span("step") as span:
            assert not span.is_recording()
            assert tracing.traceparent() is None
            assert tracing.traceparent(span) is None

    def test_an_unknown_instrumentation_is_refused(self) -> None:
        with pytest.raises(ValueError, match="no instrumentation"):
            tracing.configure_tracing("binconv-test", ("kafka",))

    def test_shutdown_is_harmless(self) -> None:
        tracing.shutdown_tracing()
        assert not tracing.enabled()


class TestOn:
    def test_a_span_continues_the_trace_of_a_stored_traceparent(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with tracing_on(monkeypatch) as exporter:
            tracer = tracing.tracer(__name__)
            with tracer.start_as_current_span("writer") as writer:
                stored = tracing.traceparent()
            assert stored == tracing.traceparent(writer)
            assert stored is not None

            # Later, elsewhere: the stored string is all that crossed.
            tracer.start_span("reader", tracing.context_of(stored)).end()

            spans = exporter.get_finished_spans()
            reader, written = one(spans, "reader"), one(spans, "writer")
            assert is_child(reader, written)
            assert traceparent_of(written) == stored

    def test_the_resource_names_the_service_unless_otel_service_name_does(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with tracing_on(monkeypatch, "binconv-relay") as exporter:
            tracing.tracer(__name__).start_span("a").end()
        with tracing_on(monkeypatch, "binconv-relay", OTEL_SERVICE_NAME="relay-7") as renamed:
            tracing.tracer(__name__).start_span("b").end()

        assert one(exporter.get_finished_spans(), "a").resource.attributes["service.name"] == (
            "binconv-relay"
        )
        assert one(renamed.get_finished_spans(), "b").resource.attributes["service.name"] == (
            "relay-7"
        )

    def test_a_missing_or_malformed_traceparent_starts_a_new_trace(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with tracing_on(monkeypatch):
            assert tracing.context_of(None) is None
            assert tracing.context_of("") is None
            assert tracing.context_of("not-a-traceparent") is None
            assert tracing.context_of("00-" + "0" * 32 + "-" + "0" * 16 + "-01") is None

    def test_the_sampler_comes_from_the_standard_variables(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with tracing_on(
            monkeypatch, OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="0"
        ) as exporter:
            with tracing.tracer(__name__).start_as_current_span("dropped") as span:
                assert not span.is_recording()
                assert tracing.traceparent() is None  # nothing is stored for it
            assert exporter.get_finished_spans() == ()

    def test_by_default_a_child_follows_its_parents_sampling_decision(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with tracing_on(monkeypatch) as exporter:
            tracer = tracing.tracer(__name__)
            tracer.start_span("kept", tracing.context_of(STORED)).end()
            dropped = tracer.start_span("dropped", tracing.context_of(UNSAMPLED))
            assert tracing.traceparent(dropped) is None
            dropped.end()

            assert [span.name for span in exporter.get_finished_spans()] == ["kept"]

    def test_header_text_reads_a_string_or_bytes_header(self) -> None:
        assert tracing.header_text({"traceparent": STORED}, "traceparent") == STORED
        assert tracing.header_text({"traceparent": STORED.encode()}, "traceparent") == STORED
        assert tracing.header_text({"traceparent": 7}, "traceparent") is None
        assert tracing.header_text(None, "traceparent") is None

    def test_shutdown_turns_tracing_off_again(self, monkeypatch: pytest.MonkeyPatch) -> None:
        with tracing_on(monkeypatch, instrument=("grpc_server", "grpc_client", "asyncpg")):
            assert tracing.enabled()
        assert not tracing.enabled()
        assert tracing.traceparent() is None
