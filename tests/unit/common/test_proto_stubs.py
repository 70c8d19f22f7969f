"""The committed gRPC stubs are what `just proto` generates from protos/task.proto."""

from __future__ import annotations

from pathlib import Path

from grpc_tools import protoc

from devstack.infra import REPO

STUBS = REPO / "pyservices" / "common" / "proto"


def test_the_committed_stubs_match_the_proto(tmp_path: Path) -> None:
    status = protoc.main(
        [
            "protoc",
            "-I",
            str(REPO / "protos"),
            f"-I{Path(protoc.__file__).parent / '_proto'}",
            f"--python_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            str(REPO / "protos" / "task.proto"),
        ]
    )
    assert status == 0

    assert (tmp_path / "task_pb2.py").read_text() == (STUBS / "task_pb2.py").read_text()
    generated_grpc = (
        (tmp_path / "task_pb2_grpc.py")
        .read_text()
        .replace("\nimport task_pb2", "\nfrom pyservices.common.proto import task_pb2")
    )
    assert generated_grpc == (STUBS / "task_pb2_grpc.py").read_text(), "run `just proto`"
