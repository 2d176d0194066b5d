//! A recorded ERP: on-hand per warehouse and ERP item read from a CSV (`warehouse,erp_item,
//! on_hand`, ERP units), standing in for the ERP when its live read is not wanted (a catalogue
//! larger than the test ERP holds, an export the ERP team sent). It answers
//! [`Erp::levels`](stockbridge_core::ports::Erp::levels) only: it takes no writes.

use std::collections::HashMap;

use rust_decimal::Decimal;

use stockbridge_core::ports::{Erp, ErpError};
use stockbridge_domain::erp_write::{ErpWrite, Incoming};

/// Why a recorded levels file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LevelsFileError {
    #[error("levels file line {line}: {detail}; expected warehouse,erp_item,on_hand with a decimal on_hand")]
    BadRow { line: u64, detail: String },
    #[error("levels file line {line}: {warehouse}/{item} appears twice (first on line {first}); keep one row per warehouse and item")]
    Duplicate {
        line: u64,
        first: u64,
        warehouse: String,
        item: String,
    },
}

/// The ERP's on-hand as recorded in a file.
#[derive(Debug, Default)]
pub struct RecordedErp {
    levels: HashMap<(String, String), (Decimal, u64)>,
}

impl RecordedErp {
    /// Reads `warehouse,erp_item,on_hand` rows (a header row naming those columns first).
    pub fn parse(text: &str) -> Result<Self, LevelsFileError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut levels = HashMap::new();
        for (n, row) in reader.records().enumerate() {
            let line = n as u64 + 2;
            let row = row.map_err(|e| LevelsFileError::BadRow {
                line,
                detail: e.to_string(),
            })?;
            let (Some(warehouse), Some(item), Some(on_hand), None) =
                (row.get(0), row.get(1), row.get(2), row.get(3))
            else {
                return Err(LevelsFileError::BadRow {
                    line,
                    detail: format!("{} columns", row.len()),
                });
            };
            if warehouse.is_empty() || item.is_empty() {
                return Err(LevelsFileError::BadRow {
                    line,
                    detail: "an empty warehouse or item".into(),
                });
            }
            let on_hand: Decimal = on_hand.parse().map_err(|e| LevelsFileError::BadRow {
                line,
                detail: format!("on_hand {on_hand:?}: {e}"),
            })?;
            let slot = (warehouse.to_string(), item.to_string());
            if let Some((_, first)) = levels.get(&slot) {
                return Err(LevelsFileError::Duplicate {
                    line,
                    first: *first,
                    warehouse: slot.0,
                    item: slot.1,
                });
            }
            levels.insert(slot, (on_hand, line));
        }
        Ok(RecordedErp { levels })
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }
}

impl Erp for RecordedErp {
    async fn apply(&self, write: &ErpWrite) -> Result<(), ErpError> {
        Err(ErpError::Rejected(format!(
            "write {} refused: a recorded levels file takes no writes",
            write.key
        )))
    }

    async fn levels(
        &self,
        warehouse: &str,
        items: &[String],
    ) -> Result<HashMap<String, Decimal>, ErpError> {
        Ok(items
            .iter()
            .filter_map(|item| {
                self.levels
                    .get(&(warehouse.to_string(), item.clone()))
                    .map(|(q, _)| (item.clone(), *q))
            })
            .collect())
    }

    async fn incoming(&self, _: &str, _: &[String]) -> Result<Vec<Incoming>, ErpError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn levels_are_answered_per_warehouse_and_unknown_items_are_absent() {
        let erp =
            RecordedErp::parse("warehouse,erp_item,on_hand\nWH,TEE,12\nWH,CAP,0.5\nSTORE,TEE,3\n")
                .expect("a good file");
        let got = erp
            .levels("WH", &["TEE".into(), "CAP".into(), "MUG".into()])
            .await
            .expect("levels");
        assert_eq!(got.len(), 2);
        assert_eq!(got["TEE"], Decimal::from(12));
        assert_eq!(got["CAP"], "0.5".parse::<Decimal>().unwrap());
    }

    #[test]
    fn a_bad_or_repeated_row_is_refused_with_its_line() {
        assert!(matches!(
            RecordedErp::parse("warehouse,erp_item,on_hand\nWH,TEE,lots\n"),
            Err(LevelsFileError::BadRow { line: 2, .. })
        ));
        assert!(matches!(
            RecordedErp::parse("warehouse,erp_item,on_hand\nWH,TEE,1\nWH,TEE,2\n"),
            Err(LevelsFileError::Duplicate {
                line: 3,
                first: 2,
                ..
            })
        ));
    }
}
