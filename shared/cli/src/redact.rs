//! `stockbridge redact status`: where the shop's newest `shop/redact` is, as the consumer
//! records it after every step (`REDACT#<shop>` in the inbox table): started, finished or how
//! far, records deleted, steps, how often it was handed on to a later invocation. Exit 1 when no
//! redaction was ever recorded for the shop.

use std::process::ExitCode;

use stockbridge_core::ports::{RedactProgress, StockStore};
use stockbridge_domain::ids::ShopDomain;

use crate::deployment::Deployment;
use crate::error::Result;

pub async fn status(at: &Deployment, shop: &str, json: bool) -> Result<ExitCode> {
    let store = at.store()?;
    let Some(progress) = store.redact_progress(&ShopDomain::new(shop)).await? else {
        eprintln!("no redaction recorded for {shop}");
        return Ok(ExitCode::from(1));
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&progress)?);
    } else {
        print!("{}", describe(&progress));
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(p: &RedactProgress) -> String {
    let state = match p.finished_at {
        Some(at) => format!("finished {at}"),
        None => "in progress (resumes from its cursor when its next message is delivered)".into(),
    };
    format!(
        "shop          {}\nrequest       {}\nstate         {state}\nstarted       {}\nupdated       {}\ndeleted       {} records in {} steps\nhanded on     {} times\n",
        p.shop, p.run, p.started_at, p.updated_at, p.deleted, p.steps, p.continuations
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockbridge_domain::event::RedactCursor;
    use stockbridge_domain::ids::Timestamp;

    #[test]
    fn a_redaction_under_way_says_so_and_how_far_it_got() {
        let p = RedactProgress {
            shop: ShopDomain::new("a.myshopify.com"),
            run: "a.myshopify.com:w:0".into(),
            cursor: Some(RedactCursor("{}".into())),
            steps: 3,
            deleted: 150,
            continuations: 1,
            started_at: Timestamp(0),
            updated_at: Timestamp(1),
            finished_at: None,
        };
        let text = describe(&p);
        assert!(text.contains("in progress"), "{text}");
        assert!(text.contains("150 records in 3 steps"), "{text}");
        let done = describe(&RedactProgress {
            finished_at: Some(Timestamp(2)),
            cursor: None,
            ..p
        });
        assert!(done.contains("finished"), "{done}");
    }
}
