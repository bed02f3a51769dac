"""Payload encryption (overdue.codec) and the remote codec server (overdue.codec_server)."""

from __future__ import annotations

import base64
import sys
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from temporalio import activity, workflow

# The sandbox re-imports this module for the workflow: pass the heavy imports through.
with workflow.unsafe.imports_passed_through():
    import httpx
    import pytest
    from pydantic import BaseModel, SecretStr, ValidationError
    from temporalio.api.common.v1 import Payload
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from overdue.codec import (
        DEV_KEY_ID,
        ENCODING,
        KEY_ID_METADATA,
        CodecError,
        CodecSettings,
        EncryptionCodec,
        data_converter,
        new_key,
    )
    from overdue.codec_server import create_app

NAME = "张伟"
PHONE = "13812345678"
UI_ORIGIN = "http://localhost:8233"
TOKEN = "test-codec-token"


class Debtor(BaseModel):
    name: str
    phone: str
    owed: Decimal


class Greeting(BaseModel):
    text: str


@activity.defn
async def compose_greeting(debtor: Debtor) -> Greeting:
    return Greeting(text=f"您好 {debtor.name}, 请致电 {debtor.phone}")


@workflow.defn
class GreetDebtor:
    @workflow.run
    async def run(self, debtor: Debtor) -> Greeting:
        return await workflow.execute_activity(
            compose_greeting, debtor, start_to_close_timeout=timedelta(seconds=10))


def settings_with(keys: dict[str, str], active: str) -> CodecSettings:
    return CodecSettings(keys={k: SecretStr(v) for k, v in keys.items()}, active_key_id=active,
                         server_token=SecretStr(TOKEN), ui_origin=UI_ORIGIN)


def debtor() -> Debtor:
    return Debtor(name=NAME, phone=PHONE, owed=Decimal("1234.56"))


# --- codec --------------------------------------------------------------------------------


async def test_round_trip_through_converter_hides_plaintext() -> None:
    converter = data_converter(settings_with({"k1": new_key()}, "k1"))
    payloads = await converter.encode([debtor(), "plain string", 42])
    assert len(payloads) == 3
    for p in payloads:
        assert p.metadata["encoding"] == ENCODING
        assert p.metadata[KEY_ID_METADATA] == b"k1"
        assert NAME.encode() not in p.data
        assert PHONE.encode() not in p.data
        assert NAME.encode() not in p.SerializeToString()
    # Each payload gets its own nonce: the same value never encrypts to the same bytes.
    again = await converter.encode([debtor()])
    assert again[0].data[:12] != payloads[0].data[:12]
    assert again[0].data != payloads[0].data
    decoded = await converter.decode(payloads, [Debtor, str, int])
    assert decoded == [debtor(), "plain string", 42]


async def test_converter_without_settings_is_the_plain_pydantic_one() -> None:
    assert data_converter(None) is pydantic_data_converter
    converter = data_converter(CodecSettings())
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert converter.payload_codec.active_key_id == DEV_KEY_ID
    # dataclasses.replace keeps the pydantic converter (Decimal etc. survive).
    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class
    [payload] = await converter.encode([debtor()])
    assert await converter.decode([payload], [Debtor]) == [debtor()]


async def test_encrypted_payload_wraps_the_whole_original_payload() -> None:
    settings = settings_with({"k1": new_key()}, "k1")
    codec = EncryptionCodec.from_settings(settings)
    [original] = pydantic_data_converter.payload_converter.to_payloads([debtor()])
    [encrypted] = await codec.encode([original])
    assert set(encrypted.metadata) == {"encoding", KEY_ID_METADATA}
    assert b"json/plain" not in encrypted.SerializeToString()  # metadata is encrypted too
    [decrypted] = await codec.decode([encrypted])
    assert decrypted == original


async def test_key_rotation() -> None:
    k1, k2 = new_key(), new_key()
    old = data_converter(settings_with({"k1": k1}, "k1"))
    old_payloads = await old.encode([debtor()])
    assert old_payloads[0].metadata[KEY_ID_METADATA] == b"k1"

    rotated = data_converter(settings_with({"k1": k1, "k2": k2}, "k2"))
    assert await rotated.decode(old_payloads, [Debtor]) == [debtor()]
    new_payloads = await rotated.encode([debtor()])
    assert new_payloads[0].metadata[KEY_ID_METADATA] == b"k2"
    assert await rotated.decode(new_payloads, [Debtor]) == [debtor()]

    # A converter that only knows k2 reads the new payloads but names k1 for the old ones.
    k2_only = data_converter(settings_with({"k2": k2}, "k2"))
    assert await k2_only.decode(new_payloads, [Debtor]) == [debtor()]
    with pytest.raises(CodecError, match="'k1'"):
        await k2_only.decode(old_payloads, [Debtor])


async def test_unknown_key_id_error_names_it() -> None:
    writer = EncryptionCodec({"retired-2025": base64.b64decode(new_key())}, "retired-2025")
    reader = EncryptionCodec({"k1": base64.b64decode(new_key())}, "k1")
    encrypted = await writer.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"1")])
    with pytest.raises(CodecError, match="unknown codec key id 'retired-2025'"):
        await reader.decode(encrypted)


async def test_tampered_ciphertext_fails() -> None:
    codec = EncryptionCodec.from_settings(settings_with({"k1": new_key()}, "k1"))
    [encrypted] = await codec.encode([Payload(metadata={"encoding": b"json/plain"},
                                              data=b'"x"')])
    flipped = bytearray(encrypted.data)
    flipped[-1] ^= 0x01
    tampered = Payload()
    tampered.CopyFrom(encrypted)
    tampered.data = bytes(flipped)
    with pytest.raises(CodecError, match="failed authentication"):
        await codec.decode([tampered])

    # The key id is authenticated too: relabelling a payload with another known key fails.
    two = EncryptionCodec({"k1": b"\x01" * 32, "k2": b"\x01" * 32}, "k1")
    [labelled] = await two.encode([Payload(data=b"x")])
    relabelled = Payload()
    relabelled.CopyFrom(labelled)
    relabelled.metadata[KEY_ID_METADATA] = b"k2"
    with pytest.raises(CodecError, match="'k2'"):
        await two.decode([relabelled])

    short = Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: b"k1"}, data=b"short")
    with pytest.raises(CodecError, match="too short"):
        await codec.decode([short])


async def test_unencrypted_payloads_pass_through_decode() -> None:
    converter = data_converter(settings_with({"k1": new_key()}, "k1"))
    plain = pydantic_data_converter.payload_converter.to_payloads([debtor(), None])
    assert await converter.decode(plain, [Debtor, type(None)]) == [debtor(), None]
    assert converter.payload_codec is not None
    assert await converter.payload_codec.decode(plain) == plain


def test_settings_validation_names_the_key_id() -> None:
    short = base64.b64encode(b"x" * 16).decode()
    with pytest.raises(ValidationError, match=r"'short-key'.*32 bytes"):
        settings_with({"good": new_key(), "short-key": short}, "good")
    with pytest.raises(ValidationError, match=r"'not-base64'.*base64"):
        settings_with({"not-base64": "!!! not base64 !!!"}, "not-base64")
    with pytest.raises(ValidationError, match="'missing'"):
        settings_with({"k1": new_key()}, "missing")
    defaults = CodecSettings()
    assert defaults.active_key_id == DEV_KEY_ID
    assert len(defaults.key_bytes()[DEV_KEY_ID]) == 32
    # Keys can come from the environment as JSON of key id -> base64.
    parsed = CodecSettings.model_validate({"keys": {"k9": new_key()}, "active_key_id": "k9"})
    assert set(parsed.key_bytes()) == {"k9"}


def test_settings_do_not_leak_keys_in_repr() -> None:
    key = new_key()
    settings = settings_with({"k1": key}, "k1")
    assert key not in repr(settings)
    assert TOKEN not in repr(settings)


# --- codec server -------------------------------------------------------------------------


def server_client(settings: CodecSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)),
                             base_url="http://codec.test")


AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"}


async def test_codec_server_round_trip_in_the_json_protocol() -> None:
    settings = settings_with({"k1": new_key()}, "k1")
    [plain] = pydantic_data_converter.payload_converter.to_payloads([debtor()])
    body = {"payloads": [{"metadata": {k: base64.b64encode(v).decode()
                                       for k, v in plain.metadata.items()},
                          "data": base64.b64encode(plain.data).decode()}]}
    async with server_client(settings) as client:
        encoded = await client.post("/encode", json=body, headers=AUTH)
        assert encoded.status_code == 200, encoded.text
        [enc] = encoded.json()["payloads"]
        assert set(enc) == {"metadata", "data"}
        assert base64.b64decode(enc["metadata"]["encoding"]) == ENCODING
        assert base64.b64decode(enc["metadata"][KEY_ID_METADATA]) == b"k1"
        assert NAME.encode() not in base64.b64decode(enc["data"])

        decoded = await client.post("/decode", json=encoded.json(), headers=AUTH)
        assert decoded.status_code == 200, decoded.text
        assert decoded.json() == body

    # What the server encodes, the workers' converter decodes (and the other way round).
    converter = data_converter(settings)
    enc_payload = Payload(metadata={k: base64.b64decode(v) for k, v in enc["metadata"].items()},
                          data=base64.b64decode(enc["data"]))
    assert await converter.decode([enc_payload], [Debtor]) == [debtor()]


async def test_codec_server_decodes_what_workers_encode_and_passes_plain_through() -> None:
    settings = settings_with({"k1": new_key()}, "k1")
    [encrypted] = await data_converter(settings).encode([debtor()])
    body = {"payloads": [
        {"metadata": {k: base64.b64encode(v).decode() for k, v in encrypted.metadata.items()},
         "data": base64.b64encode(encrypted.data).decode()},
        {"metadata": {"encoding": base64.b64encode(b"binary/null").decode()}},
    ]}
    async with server_client(settings) as client:
        response = await client.post("/decode", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    first, second = response.json()["payloads"]
    assert base64.b64decode(first["metadata"]["encoding"]) == b"json/plain"
    assert NAME in base64.b64decode(first["data"]).decode()
    assert second == body["payloads"][1]


async def test_codec_server_errors() -> None:
    settings = settings_with({"k1": new_key()}, "k1")
    other = await data_converter(settings_with({"k-other": new_key()}, "k-other")).encode([1])
    body = {"payloads": [{"metadata": {k: base64.b64encode(v).decode()
                                       for k, v in other[0].metadata.items()},
                          "data": base64.b64encode(other[0].data).decode()}]}
    async with server_client(settings) as client:
        for path in ("/encode", "/decode"):
            assert (await client.post(path, json={"payloads": []})).status_code == 401
            wrong = {"Authorization": "Bearer nope"}
            assert (await client.post(path, json={"payloads": []}, headers=wrong)
                    ).status_code == 401
            basic = {"Authorization": f"Basic {TOKEN}"}
            assert (await client.post(path, json={"payloads": []}, headers=basic)
                    ).status_code == 401
            empty = await client.post(path, json={"payloads": []}, headers=AUTH)
            assert empty.status_code == 200
            assert empty.json() == {}  # protobuf JSON omits the empty repeated field
            bad = await client.post(path, content=b"not json", headers=AUTH)
            assert bad.status_code == 400
            bad = await client.post(path, json={"payloads": [{"nope": 1}]}, headers=AUTH)
            assert bad.status_code == 400
        unknown = await client.post("/decode", json=body, headers=AUTH)
        assert unknown.status_code == 400
        assert "'k-other'" in unknown.json()["detail"]
        health = await client.get("/healthz")
        assert health.status_code == 200


async def test_codec_server_cors() -> None:
    settings = settings_with({"k1": new_key()}, "k1")
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type,x-namespace"}
    async with server_client(settings) as client:
        allowed = await client.options("/decode", headers={"Origin": UI_ORIGIN, **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == UI_ORIGIN
        assert allowed.headers["access-control-allow-credentials"] == "true"
        allow_headers = allowed.headers["access-control-allow-headers"].lower()
        for header in ("authorization", "content-type", "x-namespace"):
            assert header in allow_headers
        assert "POST" in allowed.headers["access-control-allow-methods"]

        denied = await client.options("/decode",
                                      headers={"Origin": "http://evil.example", **preflight})
        assert "access-control-allow-origin" not in denied.headers

        # Actual requests: the UI's origin gets the header, another origin does not.
        ok = await client.post("/decode", json={"payloads": []},
                               headers={"Origin": UI_ORIGIN, **AUTH})
        assert ok.headers["access-control-allow-origin"] == UI_ORIGIN
        other = await client.post("/decode", json={"payloads": []},
                                  headers={"Origin": "http://evil.example", **AUTH})
        assert "access-control-allow-origin" not in other.headers


# --- end to end on the time-skipping server -----------------------------------------------


async def test_history_holds_no_plaintext_on_a_real_server() -> None:
    settings = settings_with({"k1": new_key()}, "k1")
    converter = data_converter(settings)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
        data_converter=converter)
    try:
        task_queue = f"codec-{uuid.uuid4().hex[:8]}"
        workflow_id = f"codec-{uuid.uuid4().hex[:8]}"
        async with Worker(env.client, task_queue=task_queue, workflows=[GreetDebtor],
                          activities=[compose_greeting]):
            handle = await env.client.start_workflow(
                GreetDebtor.run, debtor(), id=workflow_id, task_queue=task_queue,
                memo={"debtor": NAME}, static_summary=f"Greeting {NAME}")
            result = await handle.result()
        assert result == Greeting(text=f"您好 {NAME}, 请致电 {PHONE}")

        history = await env.client.get_workflow_handle(workflow_id).fetch_history()
        raw = b"".join(event.SerializeToString() for event in history.events)
        as_json = history.to_json()
        for secret in (NAME, PHONE, "1234.56"):
            assert secret.encode() not in raw, secret
            assert secret not in as_json, secret

        # The check would have seen them: the encrypted input decodes to the plaintext.
        started = history.events[0].workflow_execution_started_event_attributes
        assert started.input.payloads[0].metadata["encoding"] == ENCODING
        assert await converter.decode(started.input.payloads, [Debtor]) == [debtor()]
        assert started.memo.fields["debtor"].metadata["encoding"] == ENCODING
        summary = history.events[0].user_metadata.summary
        assert summary.metadata["encoding"] == ENCODING
        assert await converter.decode([summary], [str]) == [f"Greeting {NAME}"]
        assert converter.payload_codec is not None
        plain = await converter.payload_codec.decode(started.input.payloads)
        assert NAME.encode() in plain[0].data

        # A client without the codec cannot read the result.
        plain_client = Client(env.client.service_client, namespace=env.client.namespace,
                              data_converter=pydantic_data_converter)
        with pytest.raises(Exception, match="binary/encrypted"):
            await plain_client.get_workflow_handle(workflow_id).result()
    finally:
        await env.shutdown()
