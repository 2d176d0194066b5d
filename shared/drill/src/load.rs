//! The synthetic load: a deterministic generator (the drills are reproducible), a Zipf-skewed
//! catalogue, and the merchant actions of the webhook drill as Shopify's webhooks with the
//! generator's own model of Shopify's quantities.

use stockbridge_domain::ids::Timestamp;

use crate::stack::{ITEM_BASE, STORE};

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// SKU indexes `0..skus` weighted `1 / (k + 1)^exponent`: 0 is uniform, 1.1 puts about a fifth
/// of the picks on SKU 0. `skus` is at least 1.
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    pub fn new(skus: usize, exponent: f64) -> Self {
        let weights: Vec<f64> = (1..=skus)
            .map(|k| 1.0 / (k as f64).powf(exponent))
            .collect();
        let total: f64 = weights.iter().sum();
        let mut cumulative = Vec::with_capacity(skus);
        let mut acc = 0.0;
        for w in &weights {
            acc += w / total;
            cumulative.push(acc);
        }
        Zipf { cumulative }
    }

    /// The SKU at cumulative weight `u` (uniform in [0, 1)).
    pub fn at(&self, u: f64) -> usize {
        self.cumulative.partition_point(|c| *c < u).min(self.last())
    }

    /// A SKU drawn with the catalogue's skew: one uniform draw, looked up once.
    fn pick(&self, rng: &mut Rng) -> usize {
        self.at(rng.unit())
    }

    fn last(&self) -> usize {
        self.cumulative.len().saturating_sub(1)
    }
}

/// An order line in the generator: (line id, SKU index, quantity).
type OrderLine = (u64, usize, i64);

/// The generator's own model of Shopify's quantities at the shop floor, per SKU.
#[derive(Default, Clone)]
pub struct Model {
    pub available: Vec<i64>,
    pub committed: Vec<i64>,
    open: Vec<(u64, Vec<OrderLine>)>,
    pub touched: Vec<bool>,
}

/// The load generator: merchant actions on a Zipf-skewed catalogue as Shopify's webhooks, with
/// its own model of Shopify's quantities at the shop floor.
pub struct Generator {
    zipf: Zipf,
    rng: Rng,
    pub model: Model,
    clock: i64,
    next_id: u64,
}

impl Generator {
    pub fn new(skus: usize, zipf: f64, run: i64) -> Self {
        Generator {
            zipf: Zipf::new(skus, zipf),
            rng: Rng(0x00b1_ac4f_21da_0001 ^ run as u64),
            model: Model {
                available: vec![0; skus],
                committed: vec![0; skus],
                open: Vec::new(),
                touched: vec![false; skus],
            },
            clock: Timestamp::now().0,
            next_id: 9_000_000_000_000_000_000 + (run as u64 % 1_000_000) * 1_000_000,
        }
    }

    /// One merchant action: one or more (topic, body) webhooks (an order and its level changes).
    pub fn next_action(&mut self) -> Vec<(&'static str, String)> {
        let roll = self.rng.next() % 100;
        self.clock += 1_000_000;
        let at = Timestamp(self.clock).to_rfc3339();
        if roll < 15 && !self.model.open.is_empty() {
            self.fulfil_oldest(&at)
        } else if roll < 40 {
            self.order(&at)
        } else {
            self.receive(&at)
        }
    }

    /// Fulfils the oldest open order: committed down, on hand down, available unchanged.
    fn fulfil_oldest(&mut self, at: &str) -> Vec<(&'static str, String)> {
        let (id, lines) = self.model.open.remove(0);
        for (_, sku, q) in &lines {
            self.model.committed[*sku] -= q;
        }
        vec![("orders/fulfilled", order_body(id, &lines, true, at))]
    }

    /// An order of 1 to 3 lines: committed up, available down (a level change per line).
    fn order(&mut self, at: &str) -> Vec<(&'static str, String)> {
        self.next_id += 1;
        let id = self.next_id;
        let mut lines = Vec::new();
        for _ in 0..=(self.rng.next() % 3) {
            let sku = self.zipf.pick(&mut self.rng);
            if lines.iter().any(|(_, s, _)| *s == sku) {
                continue;
            }
            self.next_id += 1;
            let q = 1 + (self.rng.next() % 2) as i64;
            lines.push((self.next_id, sku, q));
        }
        for (_, sku, q) in &lines {
            self.model.committed[*sku] += q;
            self.model.available[*sku] -= q;
            self.model.touched[*sku] = true;
        }
        let mut batch = vec![("orders/create", order_body(id, &lines, false, at))];
        for (_, sku, _) in &lines {
            batch.push((
                "inventory_levels/update",
                level_body(*sku, self.model.available[*sku], at),
            ));
        }
        self.model.open.push((id, lines));
        batch
    }

    /// A receipt or a count: a new absolute level.
    fn receive(&mut self, at: &str) -> Vec<(&'static str, String)> {
        let sku = self.zipf.pick(&mut self.rng);
        self.model.available[sku] =
            (self.model.available[sku] + 5 + (self.rng.next() % 20) as i64).max(0);
        self.model.touched[sku] = true;
        vec![(
            "inventory_levels/update",
            level_body(sku, self.model.available[sku], at),
        )]
    }
}

fn order_body(id: u64, lines: &[OrderLine], fulfilled: bool, at: &str) -> String {
    let lines: Vec<String> = lines
        .iter()
        .map(|(line, sku, q)| {
            let f = if fulfilled { 0 } else { *q };
            format!(
                r#"{{"id":{line},"variant_id":{},"sku":"SKU-{sku:04}","quantity":{q},"fulfillable_quantity":{f},"name":"Item {sku}","price":"19.00"}}"#,
                ITEM_BASE + 500_000 + *sku as u64
            )
        })
        .collect();
    format!(
        r#"{{"id":{id},"name":"SB{id}","email":"shopper@example.com","updated_at":"{at}","cancelled_at":null,"location_id":{STORE},"customer":{{"first_name":"Sam","last_name":"Shopper"}},"billing_address":{{"address1":"1 Main St"}},"line_items":[{}]}}"#,
        lines.join(",")
    )
}

fn level_body(sku: usize, available: i64, at: &str) -> String {
    let item = ITEM_BASE + sku as u64;
    format!(
        r#"{{"inventory_item_id":{item},"location_id":{STORE},"available":{available},"updated_at":"{at}","admin_graphql_api_id":"gid://shopify/InventoryLevel/{STORE}?inventory_item_id={item}"}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_puts_most_picks_on_the_first_skus() {
        let zipf = Zipf::new(200, 1.1);
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let mut hits = [0usize; 200];
        for _ in 0..10_000 {
            hits[zipf.at(rng.unit())] += 1;
        }
        assert!(hits[0] > 1_500 && hits[0] < 2_500, "{}", hits[0]);
        assert!(hits[0] > hits[10] && hits[10] > hits[150]);
    }

    #[test]
    fn one_sku_always_picks_it() {
        let zipf = Zipf::new(1, 1.1);
        let mut rng = Rng(7);
        assert_eq!(zipf.at(0.999), 0);
        assert_eq!(zipf.pick(&mut rng), 0);
    }

    #[test]
    fn the_model_follows_the_webhooks() {
        let mut generator = Generator::new(20, 1.1, 1_700_000_000);
        for _ in 0..500 {
            for (topic, body) in generator.next_action() {
                assert!(topic.contains('/'));
                assert!(serde_json::from_str::<serde_json::Value>(&body).is_ok());
            }
        }
        let model = &generator.model;
        let open: i64 = model.open.iter().flat_map(|(_, l)| l).map(|l| l.2).sum();
        assert_eq!(model.committed.iter().sum::<i64>(), open);
        assert!(model.touched.iter().any(|t| *t));
    }
}
