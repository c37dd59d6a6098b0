//! Series identity for metric samples: one stable 64-bit id per (host, name, label set).
//!
//! The store keeps each series' labels once (`metric_series`) and every sample as
//! (ts, series id, value), so appending samples never touches a label map. The id must
//! be the same in every process and every version, because it is persisted: it is
//! FNV-1a 64 over a canonical encoding — host, name, then the label pairs sorted by
//! name, each field ended by a byte (0xFF) that cannot occur in UTF-8 — so label order
//! and how the producer happened to list them do not matter.
//!
//! FNV-1a is not collision-resistant against an adversary; label values come from the
//! operator's own hosts and scrape targets, and the store checks that a new id does not
//! already name another series (`opsengine.store.metric_store`).

use arrow_array::{Array, MapArray, StringArray, UInt64Array};

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;
/// Ends every field of the encoding; never part of UTF-8 text.
const FIELD_END: u8 = 0xFF;
/// Marks a missing (null) host, distinct from an empty one.
const NULL_FIELD: u8 = 0xFE;

#[inline]
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(PRIME);
    }
    h
}

#[inline]
fn field(h: u64, value: Option<&str>) -> u64 {
    match value {
        Some(v) => fnv(fnv(h, v.as_bytes()), &[FIELD_END]),
        None => fnv(h, &[NULL_FIELD, FIELD_END]),
    }
}

/// The id of one series; `labels` in any order (duplicate names are kept, sorted by value).
pub fn series_id(host: Option<&str>, name: &str, labels: &mut [(&str, &str)]) -> u64 {
    labels.sort_unstable();
    let mut h = field(field(OFFSET_BASIS, host), Some(name));
    for (k, v) in labels.iter() {
        h = field(field(h, Some(k)), Some(v));
    }
    h
}

/// Ids for a batch of samples: `host` and `name` string columns and a `labels` map column
/// (string keys and values; a null map or null value counts as absent/empty). Null names
/// are an error naming the row, since a sample without a metric name cannot be stored.
pub fn series_ids(
    host: &StringArray,
    name: &StringArray,
    labels: Option<&MapArray>,
) -> Result<UInt64Array, String> {
    let n = name.len();
    if host.len() != n || labels.is_some_and(|l| l.len() != n) {
        return Err("host, name and labels must have the same length".into());
    }
    let (keys, values) = match labels {
        Some(l) => {
            let keys = l.keys().as_any().downcast_ref::<StringArray>();
            let values = l.values().as_any().downcast_ref::<StringArray>();
            match (keys, values) {
                (Some(k), Some(v)) => (Some(k), Some(v)),
                _ => return Err("labels must be a map of strings to strings".into()),
            }
        }
        None => (None, None),
    };
    let mut out = Vec::with_capacity(n);
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for row in 0..n {
        if name.is_null(row) {
            return Err(format!("row {row}: the metric name is missing"));
        }
        pairs.clear();
        if let (Some(l), Some(k), Some(v)) = (labels, keys, values) {
            if l.is_valid(row) {
                let offsets = l.value_offsets();
                for i in offsets[row] as usize..offsets[row + 1] as usize {
                    let value = if v.is_null(i) { "" } else { v.value(i) };
                    pairs.push((k.value(i), value));
                }
            }
        }
        let h = (!host.is_null(row)).then(|| host.value(row));
        out.push(series_id(h, name.value(row), &mut pairs));
    }
    Ok(UInt64Array::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{MapBuilder, StringBuilder};

    fn map(rows: &[&[(&str, &str)]]) -> MapArray {
        let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        for row in rows {
            for (k, v) in row.iter() {
                b.keys().append_value(k);
                b.values().append_value(v);
            }
            b.append(true).unwrap();
        }
        b.finish()
    }

    #[test]
    fn label_order_does_not_matter_and_values_do() {
        let a = series_id(
            Some("h"),
            "up",
            &mut [("job", "node"), ("instance", "a:9100")],
        );
        let b = series_id(
            Some("h"),
            "up",
            &mut [("instance", "a:9100"), ("job", "node")],
        );
        let c = series_id(
            Some("h"),
            "up",
            &mut [("instance", "b:9100"), ("job", "node")],
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn fields_cannot_run_into_each_other() {
        // "ab"+"c" and "a"+"bc" must differ, as must a null host and an empty one.
        assert_ne!(
            series_id(Some("ab"), "c", &mut []),
            series_id(Some("a"), "bc", &mut [])
        );
        assert_ne!(
            series_id(None, "m", &mut []),
            series_id(Some(""), "m", &mut [])
        );
        assert_ne!(
            series_id(None, "m", &mut [("a", "bc")]),
            series_id(None, "m", &mut [("ab", "c")])
        );
    }

    #[test]
    fn ids_are_stable_across_versions() {
        // Persisted in the store: this value must never change.
        assert_eq!(
            series_id(None, "", &mut []),
            fnv(fnv(OFFSET_BASIS, &[0xFE, 0xFF]), &[0xFF])
        );
        let fixed = series_id(Some("web1"), "cpu_usage_percent", &mut [("cpu", "total")]);
        assert_eq!(
            fixed,
            series_id(Some("web1"), "cpu_usage_percent", &mut [("cpu", "total")])
        );
    }

    #[test]
    fn a_batch_gets_one_id_per_row() {
        let host = StringArray::from(vec![Some("a"), Some("a"), None]);
        let name = StringArray::from(vec!["m", "m", "m"]);
        let labels = map(&[&[("x", "1"), ("y", "2")], &[("y", "2"), ("x", "1")], &[]]);
        let ids = series_ids(&host, &name, Some(&labels)).unwrap();
        assert_eq!(ids.value(0), ids.value(1));
        assert_ne!(ids.value(0), ids.value(2));
        assert_eq!(ids.value(2), series_id(None, "m", &mut []));
    }

    #[test]
    fn a_missing_name_is_an_error_naming_the_row() {
        let host = StringArray::from(vec![Some("a"), Some("a")]);
        let name = StringArray::from(vec![Some("m"), None]);
        let err = series_ids(&host, &name, None).unwrap_err();
        assert!(err.contains("row 1"), "{err}");
    }
}
