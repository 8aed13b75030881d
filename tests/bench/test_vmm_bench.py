"""``neurotwin bench vmm``: schema, ratios against the torch matmul of the same run."""

from neurotwin.bench import run_benchmark


def test_vmm_bench_writes_its_schema(tmp_path):
    out = tmp_path / "vmm.json"
    result = run_benchmark("vmm", quick=True, threads=1, output=out, show=False)
    assert out.is_file()
    assert set(result["measurements"]) == {"128x256_batch1", "128x256_batch256",
                                           "784x500_batch1", "784x500_batch256"}
    big = result["measurements"]["784x500_batch256"]
    assert (big["blocks"], big["runs"]) == (14, 7)
    assert big["ratios"]["torch_float32"] == 1.0
    assert big["times_s"]["twin"] > 0
