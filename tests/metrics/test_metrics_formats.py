"""Reading metric samples: Prometheus text (parsed in the core), JSON, Arrow IPC, Parquet."""

from __future__ import annotations

import gzip
import math
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from opsengine.metrics import (
    METRICS_SCHEMA,
    MetricFormatError,
    parse_json_samples,
    parse_prometheus,
    read_metrics_file,
)

SCRAPE = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

# The example of the Prometheus exposition-format documentation, plus a host label.
DOC_EXAMPLE = r"""# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

metric_without_timestamp_and_labels 12.47
something_weird{problem="division by zero"} +Inf -3982045

# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
up{host="db1",job="node"} NaN
"""


def test_prometheus_text_becomes_samples_with_their_times_and_labels():
    table = parse_prometheus(DOC_EXAMPLE, default_ts=SCRAPE, host="scraper")
    assert table.schema == METRICS_SCHEMA
    rows = table.to_pylist()
    assert len(rows) == 13
    first = rows[0]
    assert first["name"] == "http_requests_total"
    assert dict(first["labels"]) == {"method": "post", "code": "200"}
    assert first["ts"] == datetime.fromtimestamp(1395066363, UTC)
    assert first["host"] == "scraper"
    dos = dict(rows[2]["labels"])
    assert dos == {"path": r"C:\DIR\FILE.TXT", "error": 'Cannot find file:\n"FILE.TXT"'}
    assert rows[3]["ts"] == SCRAPE  # no timestamp: the scrape time
    assert rows[4]["value"] == math.inf
    assert rows[4]["ts"] == datetime.fromtimestamp(-3982.045, UTC)
    buckets = [r for r in rows if r["name"] == "http_request_duration_seconds_bucket"]
    assert [dict(r["labels"])["le"] for r in buckets] == ["0.05", "+Inf"]
    up = rows[-1]
    assert math.isnan(up["value"])
    # The sample's own host label becomes the host column and leaves the labels.
    assert (up["host"], dict(up["labels"])) == ("db1", {"job": "node"})


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('ok 1\nbad{x="1} 2\n', 2, "unterminated value"),
        ("a{x=1} 2", 1, "double-quoted"),
        ("a NaNx", 1, "invalid value 'NaNx'"),
        ("a 1 12.5", 1, "invalid timestamp"),
        ("# TYPE h histogram\nh_bucket 1", 2, "needs the label 'le'"),
        ("a 1\n\n# TYPE a gauge", 3, "after its samples (first at line 1)"),
        ('a{x="1",x="2"} 1', 1, "appears twice"),
    ],
)
def test_bad_exposition_names_the_file_and_line(text, line, message):
    with pytest.raises(MetricFormatError) as err:
        parse_prometheus(text, default_ts=SCRAPE, source="node.prom")
    assert str(err.value).startswith(f"node.prom:{line}: "), str(err.value)
    assert message in str(err.value)
    assert err.value.line == line


def test_json_lines_and_arrays():
    text = (
        '{"name": "cpu_usage_percent", "value": 93.5, "ts": "2026-03-02T10:00:00Z", "host": "web1"}\n'
        "\n"
        '{"name": "disk_used_percent", "value": "+Inf", "ts": 1772445660, '
        '"labels": {"mount": "/", "host": "web2"}}\n'
        '{"name": "load1", "value": 0}\n'
    )
    rows = parse_json_samples(text, default_ts=SCRAPE, host="fallback").to_pylist()
    assert [r["host"] for r in rows] == ["web1", "web2", "fallback"]
    assert rows[0]["ts"] == SCRAPE
    assert rows[1]["ts"] == datetime(2026, 3, 2, 10, 1, tzinfo=UTC)
    assert dict(rows[1]["labels"]) == {"mount": "/"}
    assert rows[1]["value"] == math.inf
    assert rows[2]["ts"] == SCRAPE
    array = parse_json_samples('[{"name": "a", "value": 1}, {"name": "b", "value": 2}]')
    assert array.column("name").to_pylist() == ["a", "b"]
    body = '{"samples": [{"name": "a", "value": 1},\n {"name": "b", "value": "x"}]}'
    with pytest.raises(MetricFormatError, match=r"^req:1 item 1: field 'value'"):
        parse_json_samples(body, source="req")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"name": "x", "value": true}', "field 'value'"),
        ('{"name": "x y", "value": 1}', "field 'name'"),
        ('{"name": "x", "value": 1, "ts": "yesterday"}', "field 'ts'"),
        ('{"name": "x", "value": 1, "labels": {"a": 1}}', "field 'labels.a'"),
        ('{"name": "x", "value": 1, "extra": 1}', "unknown field 'extra'"),
        ('{"name": "x", "value": ', "invalid JSON"),
    ],
)
def test_bad_json_names_line_and_field(line, message):
    with pytest.raises(MetricFormatError) as err:
        parse_json_samples('{"name": "ok", "value": 1}\n' + line, source="m.jsonl")
    assert str(err.value).startswith("m.jsonl:2: ")
    assert message in str(err.value)


def _sample_table(n: int = 3) -> pa.Table:
    return pa.table(
        {
            "ts": pa.array([SCRAPE] * n, pa.timestamp("ms")),  # naive ms: read as UTC
            "name": pa.array(["up"] * n).dictionary_encode(),
            "value": pa.array(range(n), pa.int64()),
        }
    )


def test_arrow_ipc_stream_file_and_parquet_read_alike(tmp_path):
    table = _sample_table()
    with ipc.new_stream(tmp_path / "s.arrows", table.schema) as w:
        w.write_table(table)
    with ipc.new_file(tmp_path / "f.arrow", table.schema) as w:
        w.write_table(table)
    pq.write_table(table, tmp_path / "p.parquet")
    pl.from_arrow(table).write_parquet(tmp_path / "polars.bin")  # sniffed by content
    for name in ("s.arrows", "f.arrow", "p.parquet", "polars.bin"):
        got = read_metrics_file(tmp_path / name, host="h1")
        assert got.schema == METRICS_SCHEMA, name
        assert got.column("value").to_pylist() == [0.0, 1.0, 2.0]
        assert got.column("ts").to_pylist() == [SCRAPE] * 3
        assert got.column("host").to_pylist() == ["h1"] * 3


def test_files_are_recognised_and_gzip_is_read(tmp_path):
    (tmp_path / "scrape.txt").write_text("up 1 1772445600000\n")
    (tmp_path / "samples.jsonl").write_text('{"name": "up", "value": 1}\n')
    (tmp_path / "scrape.prom.gz").write_bytes(gzip.compress(b"up 1 1772445600000\n"))
    for name in ("scrape.txt", "samples.jsonl", "scrape.prom.gz"):
        got = read_metrics_file(tmp_path / name, default_ts=SCRAPE)
        assert got.to_pylist()[0]["name"] == "up", name
        assert got.to_pylist()[0]["ts"] == SCRAPE, name


def test_arrow_without_required_columns_is_refused(tmp_path):
    pq.write_table(pa.table({"ts": [1], "value": [1.0]}), tmp_path / "bad.parquet")
    with pytest.raises(MetricFormatError, match=r"bad.parquet: missing column\(s\) name"):
        read_metrics_file(tmp_path / "bad.parquet")
    with pytest.raises(MetricFormatError, match="cannot read"):
        read_metrics_file(tmp_path / "missing.prom")
