//! The month's review budget (REVIEW_MONTHLY_BUDGET_USD): once the reviews of the calendar month
//! (UTC) have spent it, a new review waits on its card until a person allowed to merge presses
//! **Review anyway** (checked and audited like every decision) or **Cancel**.

use chrono::{DateTime, Datelike, TimeZone, Utc};

use super::state::{PrRun, PrStep};
use super::{PrFlow, Step};
use crate::domain::{Decides, Line, Message, OptionStyle};
use crate::store::ReviewSpend;
use crate::workflow::flow::option;
use crate::workflow::{ApprovalRequest, StepContext, StepError, Transition};

pub const OVER_BUDGET_POINT: &str = "over-budget";

impl PrFlow {
    /// The wait at `OverBudget` when this month's reviews have spent the budget and nobody
    /// chose to review anyway; None: the review may run.
    pub(super) async fn over_budget(
        &self,
        ctx: &StepContext<'_>,
        run: &PrRun,
    ) -> Result<Option<PrStep>, StepError> {
        let Some(budget_usd) = self
            .settings
            .monthly_budget_usd
            .filter(|_| !run.budget_waived)
        else {
            return Ok(None);
        };
        let spent = ctx.store().spent_since(month_start(ctx.now())).await?;
        Ok(
            (spent.cost_usd >= budget_usd).then_some(PrStep::OverBudget {
                spent_usd: spent.cost_usd,
                budget_usd,
            }),
        )
    }

    /// Review anyway (back to the review, this run exempt), or Cancel.
    pub(super) fn ask_over_budget(&self, ctx: &StepContext<'_>, mut run: PrRun) -> Step {
        let choice = ctx
            .decision(OVER_BUDGET_POINT)
            .map(|d| (d.option.as_str().to_owned(), d.by.clone()));
        Ok(match choice {
            None => {
                let request = ApprovalRequest {
                    point: OVER_BUDGET_POINT.into(),
                    decides: Decides::Merge,
                    author: None,
                    deciders: None,
                    prompt: "This month's reviews have spent the review budget. Review anyway?"
                        .into(),
                    options: vec![
                        option("review-anyway", "Review anyway", OptionStyle::Primary),
                        option("cancel", "Cancel", OptionStyle::Plain),
                    ],
                };
                let step = run.step.clone();
                Transition::wait(run.at(step), request)
            }
            Some((choice, by)) if choice == "review-anyway" => {
                run.budget_waived = true;
                let reply = Message::new([Line::new()
                    .plain("Reviewing over this month's budget, as ")
                    .user(by)
                    .plain(" chose.")]);
                Transition::go(run.at(PrStep::Review)).reply(reply)
            }
            Some(_) => Transition::cancel(run, "cancelled: this month's review budget is spent"),
        })
    }

    /// Records what the review cost, once per run and commit.
    pub(super) async fn record_spend(
        &self,
        ctx: &StepContext<'_>,
        run: &PrRun,
        cost_usd: Option<f64>,
        tokens: Option<u64>,
    ) -> Result<(), StepError> {
        let pr = super::pr_of(run)?;
        let spend = ReviewSpend {
            run_id: ctx.run().id,
            source: &pr.commit,
            cost_usd,
            tokens,
        };
        ctx.store()
            .record_spend(&spend, &pr.repo, pr.id, ctx.now())
            .await?;
        Ok(())
    }
}

/// The first instant of `now`'s calendar month, in UTC.
pub fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_starts_on_the_first_at_midnight_utc() {
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 7, 30, 0).unwrap();
        assert_eq!(
            month_start(now),
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
        );
    }
}
