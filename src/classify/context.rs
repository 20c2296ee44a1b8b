//! Table context: what a table's other columns say about a column. A column is classified
//! alone first; then the table decides what its values alone cannot:
//!
//! - A table in which no column points to a person holds no one's transactions: its prices
//!   and quantities are of things.
//! - In a table that describes people (two columns or more of names, contacts, birth dates)
//!   and is keyed by them,
//!   its first column that is unique per row and named as a key is the person's key.
//! - An identifier no rule claims points at people only when it is unique per row in such a
//!   table; anywhere else it is an identifier of a thing.
//! - A decimal amount in a table that points to a person is a transaction of that person's.
//! - UUIDs that repeat over the rows of a table that points to a person are device or
//!   advertising ids (IDFA, GAID, OAID); unique per row, they are a row's or a request's.

use std::collections::HashSet;

use arrow::array::StringArray;

use super::{Classifier, ColumnVerdict, ends_with_word, identifier_shape, is_integer_text, is_null_token};
use crate::category::Category;

/// Share of distinct values among a column's sampled values for it to be unique per row;
/// short of 1 because a sample of a large key draws a repeat now and then.
const UNIQUE_MIN_SHARE: f64 = 0.99;
/// Fewest columns of a table for its other columns to clear one of being PI.
const CONTEXT_MIN_COLUMNS: usize = 3;
/// Share of UUIDs among a column's values for a device or advertising id.
const DEVICE_UUID_MIN_SHARE: f64 = 0.8;
/// Fewest sampled values to call a column unique.
const UNIQUE_MIN_VALUES: usize = 20;
/// The last word of a key's name (`BusinessEntityID`, `customer_sk`, `员工编号`).
const KEY_HEADS: [&str; 11] = ["id", "no", "key", "sk", "code", "num", "number", "nbr", "编号", "号", "号码"];

/// Fewest columns that describe a person in a table about people.
const DESCRIBING_MIN_COLUMNS: usize = 2;

/// Categories that describe a person: a table with several of them is about people.
const DESCRIBES_A_PERSON: [Category; 8] = [
    Category::Name,
    Category::Phone,
    Category::Email,
    Category::IdCard,
    Category::Passport,
    Category::Birthday,
    Category::Gender,
    Category::Nickname,
];

/// Categories whose column points to a person, so that a table with one holds that person's records.
fn points_to_a_person(c: Category) -> bool {
    DESCRIBES_A_PERSON.contains(&c)
        || matches!(c, Category::AccountId | Category::BankCard | Category::DeviceId | Category::UnknownIdentifier)
}

/// One sampled column, as the table-level pass reads it.
pub struct SampledColumn<'a> {
    /// The column's name.
    pub name: &'a str,
    /// Its type, as the inventory reports it.
    pub data_type: &'a str,
    /// Its sampled values as text.
    pub values: &'a StringArray,
}

/// What the table pass needs to know of one column's values.
struct Shape {
    unique: bool,
    /// Share of the values that are UUIDs, the form of IDFA, GAID and OAID.
    uuids: f64,
    /// Integers, or identifier-like tokens.
    key_like: bool,
}

impl Shape {
    fn of(column: &SampledColumn) -> Shape {
        let values: Vec<&str> = column.values.iter().flatten().map(str::trim).filter(|v| !is_null_token(v)).collect();
        let distinct: HashSet<&str> = values.iter().copied().collect();
        let unique = values.len() >= UNIQUE_MIN_VALUES && distinct.len() as f64 >= UNIQUE_MIN_SHARE * values.len() as f64;
        let integers = !values.is_empty() && values.iter().all(|v| is_integer_text(v));
        let uuids = values.iter().filter(|v| super::detectors::is_uuid(v)).count() as f64 / values.len().max(1) as f64;
        Shape { unique, uuids, key_like: integers || identifier_shape(column.values).is_some() }
    }
}

impl Classifier {
    /// Classifies the columns of one table: each alone, then in the context of the others.
    pub fn classify_table(&self, columns: &[SampledColumn]) -> Vec<ColumnVerdict> {
        let mut verdicts: Vec<ColumnVerdict> = columns.iter().map(|c| self.classify_typed(c.name, c.data_type, c.values)).collect();
        // Measured only for the columns a rule below asks about: most columns are none of them.
        let cells: Vec<std::cell::OnceCell<Shape>> = columns.iter().map(|_| std::cell::OnceCell::new()).collect();
        let shape = |i: usize| cells[i].get_or_init(|| Shape::of(&columns[i]));
        // Several columns describe a person: one contact's name makes no table of people.
        let describing: Vec<Category> = verdicts.iter().map(|v| v.category).filter(|c| DESCRIBES_A_PERSON.contains(c)).collect();
        let describes = describing.first().copied().filter(|_| describing.len() >= DESCRIBING_MIN_COLUMNS);
        // Keyed by people: no account column repeats, as a user's id does in a table of orders.
        let keyed_by_people = (0..columns.len()).all(|i| verdicts[i].category != Category::AccountId || shape(i).unique);
        let about_people = describes.filter(|_| keyed_by_people);

        if let Some(attribute) = about_people {
            let key = (0..columns.len()).find(|&i| ends_with_word(columns[i].name, &KEY_HEADS) && shape(i).unique && shape(i).key_like);
            let unnamed = |i: &usize| {
                matches!(verdicts[*i].category, Category::None | Category::UnknownIdentifier)
                    && verdicts[*i].evidence.name_keyword.is_none()
            };
            if let Some(i) = key.filter(unnamed) {
                let reason = format!("unique per row in a table about people (it has a {attribute} column): the person's key");
                verdicts[i] = self.context_verdict(Category::AccountId, &verdicts[i], reason);
            }
        }
        // A table of one or two columns says too little to clear anything of being PI.
        let judged = columns.len() >= CONTEXT_MIN_COLUMNS;
        for (i, v) in verdicts.iter_mut().enumerate() {
            if v.category != Category::UnknownIdentifier || !judged {
                continue;
            }
            match about_people {
                Some(attribute) if shape(i).unique => {
                    v.evidence.reason.push_str(&format!("; unique per row in a table about people (it has a {attribute} column)"));
                }
                _ => {
                    let why = if about_people.is_none() { "no column of its table describes a person" } else { "its values repeat" };
                    let reason = format!("{}; an identifier of a thing: {why}", v.evidence.reason.split(';').next().unwrap_or_default());
                    *v = self.context_none(v, reason);
                }
            }
        }

        let points = verdicts.iter().any(|v| points_to_a_person(v.category));
        // A UUID that repeats over a person's rows is a device's or an advertising id; one
        // unique per row is a row's or a request's.
        for (i, v) in verdicts.iter_mut().enumerate() {
            let unnamed = matches!(v.category, Category::None | Category::UnknownIdentifier) && v.evidence.name_keyword.is_none();
            let first = columns[i].values.iter().flatten().map(str::trim).find(|v| !is_null_token(v));
            if !(points && unnamed && first.is_some_and(super::detectors::is_uuid)) {
                continue;
            }
            let shape = shape(i);
            if shape.uuids >= DEVICE_UUID_MIN_SHARE && !shape.unique {
                let reason = format!(
                    "{:.0}% of values are UUIDs that repeat, in a table that points to a person: device or advertising ids",
                    shape.uuids * 100.0
                );
                *v = self.context_verdict(Category::DeviceId, v, reason);
            }
        }
        for (v, column) in verdicts.iter_mut().zip(columns) {
            if judged && !points && v.category == Category::Transaction {
                let reason =
                    format!("{}; but no column of its table points to a person: amounts and quantities of things", v.evidence.reason);
                *v = self.context_none(v, reason);
            } else if points && v.category == Category::None && v.evidence.name_keyword.is_none() && column.data_type.starts_with("Decimal")
            {
                let reason = format!("a decimal amount ({}) in a table that points to a person", column.data_type);
                *v = self.context_verdict(Category::Transaction, v, reason);
            }
        }
        verdicts
    }

    fn context_verdict(&self, category: Category, was: &ColumnVerdict, reason: String) -> ColumnVerdict {
        let rule = self.rules.categories.iter().position(|r| r.id == category).expect("builtin categories have rules");
        let e = &was.evidence;
        self.verdict(rule, 0.7, e.name_keyword.clone(), e.values_checked, e.values_matched, e.detectors.clone(), reason)
    }

    fn context_none(&self, was: &ColumnVerdict, reason: String) -> ColumnVerdict {
        self.none_verdict(0.7, was.evidence.name_keyword.clone(), was.evidence.values_checked, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Rules;

    fn table(columns: &[(&str, &str, Vec<String>)]) -> Vec<(Category, String)> {
        let classifier = Classifier::new(Rules::builtin());
        let arrays: Vec<StringArray> = columns.iter().map(|(_, _, v)| StringArray::from(v.clone())).collect();
        let sampled: Vec<SampledColumn> =
            columns.iter().zip(&arrays).map(|((name, data_type, _), values)| SampledColumn { name, data_type, values }).collect();
        classifier.classify_table(&sampled).into_iter().map(|v| (v.category, v.evidence.reason)).collect()
    }

    fn seq(n: usize) -> Vec<String> {
        (1..=n).map(|i| i.to_string()).collect()
    }

    fn names(n: usize) -> Vec<String> {
        let first = ["Mary", "John", "Linda", "James", "Susan", "Robert", "Karen"];
        let last = ["Smith", "Johnson", "Brown", "Garcia", "Miller", "Davis", "Wilson", "Moore"];
        (0..n).map(|i| format!("{} {}", first[i % 7], last[i % 8])).collect()
    }

    #[test]
    fn the_unique_key_of_a_table_about_people_is_an_account() {
        let t = table(&[
            ("BusinessEntityID", "Int64", seq(60)),
            ("FullName", "Utf8", names(60)),
            ("sex", "Utf8", vec!["M".to_string(); 60]),
            ("VacationHours", "Int64", seq(60)),
        ]);
        assert_eq!(t[0].0, Category::AccountId, "{}", t[0].1);
        assert!(t[0].1.contains("person's key"), "{}", t[0].1);
        assert_eq!(t[3].0, Category::None, "only the first unique key-named column");
    }

    #[test]
    fn a_table_of_things_has_no_transactions_and_no_unknown_identifiers() {
        let codes: Vec<String> = (0..60).map(|i| format!("SKU{:08}", i * 7919)).collect();
        let t = table(&[("sku", "Utf8", codes.clone()), ("unit_price", "Float64", seq(60)), ("qty", "Int64", seq(60))]);
        assert!(t.iter().all(|(c, _)| *c == Category::None), "{t:?}");
        assert!(t[1].1.contains("points to a person"), "{}", t[1].1);
        // Alone, a column has no table to be cleared by.
        let t = table(&[("c1", "Utf8", codes.clone())]);
        assert_eq!(t[0].0, Category::UnknownIdentifier, "{}", t[0].1);
        // The same codes in a table about people, unique per row, may point at them.
        let t = table(&[("ref", "Utf8", codes), ("FullName", "Utf8", names(60)), ("gender", "Utf8", vec!["F".to_string(); 60])]);
        assert_eq!(t[0].0, Category::UnknownIdentifier, "{}", t[0].1);
    }

    #[test]
    fn decimal_amounts_are_transactions_only_beside_a_person() {
        let amounts: Vec<String> = (0..60).map(|i| format!("{}.{:02}", i * 3, i % 100)).collect();
        let users: Vec<String> = (0..60).map(|i| (1000 + i % 9).to_string()).collect();
        let t = table(&[("user_id", "Int64", users), ("Freight", "Decimal128(10, 2)", amounts.clone())]);
        assert_eq!(t[1].0, Category::Transaction, "{}", t[1].1);
        let t = table(&[("ProductID", "Int64", seq(60)), ("Freight", "Decimal128(10, 2)", amounts)]);
        assert_eq!(t[1].0, Category::None, "{}", t[1].1);
    }
}
