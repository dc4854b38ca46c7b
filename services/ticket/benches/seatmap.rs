//! Building a seat map's bodies (JSON and gzip) — what a rebuild pays after the cache's max age,
//! per replica, while holds change seats. `cargo bench -p tiketi-ticket --bench seatmap`
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::print_stdout, reason = "the bench reports the bodies' sizes next to their timings")]

use std::io::Write as _;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use flate2::Compression;
use flate2::write::GzEncoder;
use tiketi_shared::Money;
use tiketi_shared::ids::{EventId, SeatId};
use tiketi_ticket::model::{SeatMap, SeatMapSeat};
use tiketi_ticket::seatmap::encode;
use tiketi_ticket::status::SeatStatus;

/// A map of `seats` seats in sections of 50 rows × 100, a third of them held or sold.
fn map(seats: usize) -> SeatMap {
    let seats = (0..seats)
        .map(|i| {
            let (section, row, number) = (i / 5000, (i % 5000) / 100, i % 100 + 1);
            let row = format!("{}", char::from(b'A' + u8::try_from(row % 26).unwrap())).repeat(1 + row / 26);
            SeatMapSeat {
                id: SeatId::new(),
                section: format!("S{}", section + 1),
                label: format!("S{} {row}-{number}", section + 1),
                row,
                number: i32::try_from(number).unwrap(),
                price: Money::won(99_000 + 11_000 * i64::try_from(section % 3).unwrap()).unwrap(),
                status: match i % 6 {
                    0 => SeatStatus::Held,
                    1 => SeatStatus::Sold,
                    _ => SeatStatus::Available,
                },
            }
        })
        .collect();
    SeatMap { event_id: EventId::new(), version: 12_345, seats }
}

fn gzipped(json: &[u8], level: Compression) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), level);
    encoder.write_all(json).unwrap();
    encoder.finish().unwrap()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("seat_map_encode");
    group.sample_size(20);
    for seats in [5_000, 50_000] {
        let map = map(seats);
        let (json, gzip) = encode(&map).unwrap();
        println!("{seats} seats: {} bytes of JSON, {} gzipped", json.len(), gzip.len());
        group.bench_with_input(BenchmarkId::from_parameter(seats), &map, |b, map| b.iter(|| encode(map).unwrap()));
        // Where a rebuild's time goes: the JSON alone, and gzip's fastest level for comparison
        // with the default the server uses (size against CPU).
        group.bench_with_input(BenchmarkId::new("json_only", seats), &map, |b, map| {
            b.iter(|| serde_json::to_vec(map).unwrap())
        });
        let fast = gzipped(&json, Compression::fast());
        println!("{seats} seats: {} bytes gzipped at the fastest level", fast.len());
        group.bench_with_input(BenchmarkId::new("gzip_fast", seats), &json, |b, json| {
            b.iter(|| gzipped(json, Compression::fast()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
