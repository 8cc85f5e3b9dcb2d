//! `cdp-redeem-client <code> <user_id> <order_id> [order_credits]`: redeems a promotion code
//! the way an internal service would. Needs `CDP_ADDR` (e.g. `http://127.0.0.1:8080`) and
//! `CDP_SERVICE_CREDENTIAL` (a `cdp_sk_...` secret scoped to `promotions.redeem`).

use cdp_redeem_client::{Outcome, Redeemer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [code, user_id, order_id, rest @ ..] = args.as_slice() else {
        eprintln!("usage: cdp-redeem-client <code> <user_id> <order_id> [order_credits]");
        std::process::exit(2);
    };
    let addr = std::env::var("CDP_ADDR").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let credential = std::env::var("CDP_SERVICE_CREDENTIAL").map_err(|_| "set CDP_SERVICE_CREDENTIAL to a cdp_sk_... secret")?;
    let channel = tonic::transport::Endpoint::from_shared(addr)?.connect().await?;
    let redeemer = Redeemer::new(channel, credential);
    let order_credits = rest.first().map(|c| c.parse()).transpose()?;
    match redeemer.redeem(code, user_id.parse()?, order_id, order_credits).await? {
        Outcome::Granted { redemption_id, benefit, replayed } => {
            println!(
                "granted: redemption {redemption_id}, {} credits of benefit (value {}){}",
                benefit.credits,
                benefit.value,
                if replayed { ", replayed" } else { "" }
            )
        }
        Outcome::Refused { reason } => println!("refused: {reason}"),
    }
    Ok(())
}
