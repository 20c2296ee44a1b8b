//! The subject column of a dataset: the column that names the person, and how an erasure
//! or a pending request finds that person's rows in each zone.

use datafusion::common::Column;
use datafusion::logical_expr::{Expr, ScalarUDF, lit};
use serde::{Deserialize, Serialize};

use super::PlanProblem;
use super::columns::{DatasetPlan, Step};
use crate::category::Category;
use crate::lake::Zone;
use crate::transform::{PseudonymKey, Pseudonymizer};

/// The column that names the person in a dataset, and how a subject is found in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubjectColumn {
    pub column: String,
    /// The pseudonym domain a subject's id is looked up in.
    pub domain: String,
    pub category: Category,
    /// Whether the de-identified zone holds the pseudonym (else the id, kept with a reason).
    pub hashed: bool,
}

impl SubjectColumn {
    /// The subject column of a planned dataset, if it names one. Erasure must find the
    /// subject in the de-identified zone, so the column has to be hashed or kept.
    pub fn of(plan: &DatasetPlan) -> Result<Option<SubjectColumn>, PlanProblem> {
        let Some(name) = &plan.subject else { return Ok(None) };
        let Some(c) = plan.columns.iter().find(|c| &c.name == name) else {
            return Err(PlanProblem::MissingSubject { dataset: plan.name.clone(), column: name.clone() });
        };
        let default_domain = if c.category == Category::None { c.name.clone() } else { c.category.id().to_string() };
        match &c.step {
            Step::Hash { domain, category } => {
                Ok(Some(SubjectColumn { column: name.clone(), domain: domain.clone(), category: *category, hashed: true }))
            }
            Step::Keep => Ok(Some(SubjectColumn { column: name.clone(), domain: default_domain, category: c.category, hashed: false })),
            other => Err(PlanProblem::SubjectNotFindable { dataset: plan.name.clone(), column: name.clone(), action: other.action() }),
        }
    }

    /// The pseudonym a subject's id has in this dataset.
    pub fn reference(&self, key: &PseudonymKey, id: &str) -> String {
        Pseudonymizer::new(key, &self.domain).pseudonymize(self.category, id)
    }

    /// True on the rows of any subject in `refs` (never null), in `zone`.
    pub fn matches(&self, zone: Zone, refs: &[String], hash: &ScalarUDF) -> Expr {
        let column = Expr::Column(Column::new_unqualified(&self.column));
        let value = if zone == Zone::Deid && self.hashed {
            column
        } else {
            hash.call(vec![column, lit(self.domain.clone()), lit(self.category.id())])
        };
        value.in_list(refs.iter().map(|r| lit(r.clone())).collect(), false).is_true()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::Sensitivity;
    use crate::plan::columns::{ColumnPlan, Origin};

    #[test]
    fn a_subject_must_stay_findable_in_the_deid_zone() {
        let plan = |step: Step| DatasetPlan {
            name: "users".into(),
            subject: Some("uid".into()),
            columns: vec![ColumnPlan {
                name: "uid".into(),
                data_type: "Int64".into(),
                category: Category::AccountId,
                sensitivity: Sensitivity::General,
                step,
                origin: Origin::Explicit,
                measured: None,
                reason: None,
            }],
            partition_columns: Vec::new(),
            sharing: Default::default(),
            max_suppressed: 0.0,
        };
        let hashed = SubjectColumn::of(&plan(Step::Hash { domain: "acct".into(), category: Category::AccountId })).unwrap().unwrap();
        assert_eq!((hashed.domain.as_str(), hashed.hashed), ("acct", true));
        let kept = SubjectColumn::of(&plan(Step::Keep)).unwrap().unwrap();
        assert_eq!((kept.domain.as_str(), kept.hashed), ("account_id", false));
        let err = SubjectColumn::of(&plan(Step::Drop)).unwrap_err().to_string();
        assert!(err.contains("`uid`") && err.contains("drop"), "{err}");

        let key = PseudonymKey::from_bytes(vec![7; 32], "test").unwrap();
        assert_eq!(hashed.reference(&key, " 42 "), Pseudonymizer::new(&key, "acct").pseudonym("42"), "ids are canonicalized");
    }
}
