//! Putting a bulk operation's levels back in inventory item order, in bounded memory: Shopify
//! promises no order for the lines of a bulk operation's output, and reconciliation merges
//! item-ordered streams. Runs of at most `run_len` levels are sorted in memory and spilled to
//! anonymous temporary files (Lambda's `/tmp`), then merged, so the cost in memory is bounded
//! whatever the catalogue.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};

use stockbridge_core::ports::{ShopifyError, ShopifyLevel};
use stockbridge_domain::ids::{InventoryItemId, LocationId};

/// Levels held in memory before a run is spilled (80 bytes each on disk, about 120 in memory).
pub const RUN_LEN: usize = 50_000;
const RECORD: usize = 80;

fn encode(l: &ShopifyLevel) -> [u8; RECORD] {
    let mut b = [0u8; RECORD];
    b[0..8].copy_from_slice(&l.item.0.to_le_bytes());
    b[8..16].copy_from_slice(&l.location.0.to_le_bytes());
    b[16..24].copy_from_slice(&l.available.to_le_bytes());
    b[24..32].copy_from_slice(&l.on_hand.to_le_bytes());
    b[32..40].copy_from_slice(&l.committed.to_le_bytes());
    b[40..48].copy_from_slice(&l.reserved.to_le_bytes());
    b[48..56].copy_from_slice(&l.damaged.to_le_bytes());
    b[56..64].copy_from_slice(&l.safety_stock.to_le_bytes());
    b[64..72].copy_from_slice(&l.quality_control.to_le_bytes());
    b[72..80].copy_from_slice(&l.incoming.to_le_bytes());
    b
}

fn decode(b: &[u8; RECORD]) -> ShopifyLevel {
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        w
    };
    ShopifyLevel {
        item: InventoryItemId(u64::from_le_bytes(word(0))),
        location: LocationId(u64::from_le_bytes(word(8))),
        available: i64::from_le_bytes(word(16)),
        on_hand: i64::from_le_bytes(word(24)),
        committed: i64::from_le_bytes(word(32)),
        reserved: i64::from_le_bytes(word(40)),
        damaged: i64::from_le_bytes(word(48)),
        safety_stock: i64::from_le_bytes(word(56)),
        quality_control: i64::from_le_bytes(word(64)),
        incoming: i64::from_le_bytes(word(72)),
    }
}

/// Collects levels in any order.
pub struct ItemOrder {
    run_len: usize,
    buffer: Vec<ShopifyLevel>,
    runs: Vec<File>,
}

impl ItemOrder {
    pub fn new(run_len: usize) -> Self {
        ItemOrder {
            run_len: run_len.max(1),
            buffer: Vec::new(),
            runs: Vec::new(),
        }
    }

    pub fn push(&mut self, level: ShopifyLevel) -> io::Result<()> {
        self.buffer.push(level);
        if self.buffer.len() >= self.run_len {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        self.buffer.sort_by_key(|l| l.item);
        let mut file = BufWriter::new(tempfile::tempfile()?);
        for l in self.buffer.drain(..) {
            file.write_all(&encode(&l))?;
        }
        let mut file = file.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        self.runs.push(file);
        Ok(())
    }

    /// The levels in inventory item order.
    pub fn finish(mut self) -> io::Result<InItemOrder> {
        if self.runs.is_empty() {
            self.buffer.sort_by_key(|l| l.item);
            return Ok(InItemOrder {
                memory: std::mem::take(&mut self.buffer).into_iter(),
                readers: Vec::new(),
                heap: BinaryHeap::new(),
            });
        }
        if !self.buffer.is_empty() {
            self.spill()?;
        }
        let mut sorted = InItemOrder {
            memory: Vec::new().into_iter(),
            readers: self.runs.into_iter().map(BufReader::new).collect(),
            heap: BinaryHeap::new(),
        };
        for run in 0..sorted.readers.len() {
            sorted.refill(run)?;
        }
        Ok(sorted)
    }
}

/// Levels in inventory item order: from memory when they fit in one run, else merged from the
/// spilled runs (one record of each run in memory).
pub struct InItemOrder {
    memory: std::vec::IntoIter<ShopifyLevel>,
    readers: Vec<BufReader<File>>,
    heap: BinaryHeap<Reverse<(u64, usize, [u8; RECORD])>>,
}

impl InItemOrder {
    fn refill(&mut self, run: usize) -> io::Result<()> {
        let mut b = [0u8; RECORD];
        match self.readers[run].read_exact(&mut b) {
            Ok(()) => {
                self.heap.push(Reverse((decode(&b).item.0, run, b)));
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl InItemOrder {
    fn next_level(&mut self) -> Option<io::Result<ShopifyLevel>> {
        if self.readers.is_empty() {
            return self.memory.next().map(Ok);
        }
        let Reverse((_, run, b)) = self.heap.pop()?;
        if let Err(e) = self.refill(run) {
            return Some(Err(e));
        }
        Some(Ok(decode(&b)))
    }
}

impl Iterator for InItemOrder {
    /// A level, or the temporary file could not be read back.
    type Item = Result<ShopifyLevel, ShopifyError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_level().map(|r| {
            r.map_err(|e| {
                ShopifyError::Unavailable(format!("reading the sorted bulk output back: {e}"))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(item: u64) -> ShopifyLevel {
        ShopifyLevel {
            item: InventoryItemId(item),
            location: LocationId(7),
            available: item as i64 % 13 - 3,
            on_hand: item as i64 % 17,
            committed: -(item as i64 % 5),
            reserved: item as i64 % 3,
            damaged: item as i64 % 7,
            safety_stock: item as i64 % 11,
            quality_control: item as i64 % 19,
            incoming: item as i64 % 23,
        }
    }

    proptest::proptest! {
        #[test]
        fn any_order_comes_out_sorted_and_complete(
            items in proptest::collection::hash_set(0u64..u64::MAX, 0..300),
            run_len in 1usize..50,
        ) {
            let mut sorter = ItemOrder::new(run_len);
            for &i in &items {
                sorter.push(level(i)).unwrap();
            }
            let out: Vec<ShopifyLevel> = sorter.finish().unwrap().map(Result::unwrap).collect();
            let mut want: Vec<u64> = items.into_iter().collect();
            want.sort();
            proptest::prop_assert_eq!(out.iter().map(|l| l.item.0).collect::<Vec<_>>(), want);
            for l in &out {
                proptest::prop_assert_eq!(l, &level(l.item.0));
            }
        }
    }
}
