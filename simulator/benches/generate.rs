//! Rows per second of the simulator (criterion): 20 customers over two years, written to a
//! temporary directory. The full-size figure (1,000 customers) is in BENCHMARKS.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fraud_sim::{SimConfig, generate_to_dir};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let config = SimConfig {
        customers: 20,
        ..SimConfig::default()
    };
    let rows = {
        let s = generate_to_dir(&config, dir.path(), &|_, _| {}).unwrap();
        s.train_rows + s.test_rows
    };
    let mut group = c.benchmark_group("simulator");
    group.throughput(Throughput::Elements(rows));
    group.sample_size(10);
    group.bench_function("generate 20 customers x 2 years", |b| {
        b.iter(|| generate_to_dir(&config, dir.path(), &|_, _| {}).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
