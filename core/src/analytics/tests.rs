use proptest::prelude::*;

use super::*;
use crate::error::Detail;

fn at(secs: u64) -> Timestamp {
    Timestamp::from_millis(secs * 1_000)
}

fn one(outcome: Outcome, cost: u64, country: Option<&str>) -> Decision<'_> {
    Decision {
        outcome,
        tally: Tally { count: 1, cost },
        country,
    }
}

fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
    q.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn a_minute_closes_into_every_granularity_once() {
    let mut open = Open::default();
    // 2026-11-29T10:00:05Z, then 10:00:50Z: one minute.
    let t0 = 1_795_946_405;
    assert!(open
        .record(&one(Outcome::Valid, 2, Some("DE")), at(t0))
        .is_empty());
    assert!(open
        .record(&one(Outcome::RateLimited, 0, Some("DE")), at(t0 + 45))
        .is_empty());
    let closed = open.record(&one(Outcome::Valid, 1, Some("US")), at(t0 + 60));
    assert_eq!(closed.rows.len(), 6, "two outcomes × minute, hour, day");
    let minute = closed
        .rows
        .iter()
        .find(|r| r.granularity == Granularity::Minute && r.outcome == Outcome::Valid)
        .unwrap();
    assert_eq!(minute.start, at(t0 - 5));
    assert_eq!(minute.tally, Tally { count: 1, cost: 2 });
    let day = closed
        .rows
        .iter()
        .find(|r| r.granularity == Granularity::Day && r.outcome == Outcome::RateLimited)
        .unwrap();
    assert_eq!(day.start, Granularity::Day.floor(at(t0)));
    assert_eq!(
        closed.countries,
        vec![(Granularity::Day.floor(at(t0)), "DE".to_owned(), 2)]
    );
    assert_eq!(
        open.counts.len(),
        1,
        "the new minute holds only its own decision"
    );
}

#[test]
fn a_client_supplied_country_is_not_counted() {
    let mut open = Open::default();
    for bad in ["", "usa", "us", "<script>", "D\u{e9}"] {
        open.record(&one(Outcome::Valid, 1, Some(bad)), at(60));
    }
    assert!(open.countries.is_empty());
    open.record(&one(Outcome::Valid, 1, Some("T1")), at(60));
    assert_eq!(open.countries.get("T1"), Some(&1));
}

#[test]
fn refusals_of_a_key_map_to_their_outcome_and_storage_errors_to_none() {
    assert_eq!(Outcome::of(&Error::KEY_REVOKED), Some(Outcome::KeyRevoked));
    assert_eq!(
        Outcome::of(&Error::IP_NOT_ALLOWED),
        Some(Outcome::IpNotAllowed)
    );
    assert_eq!(Outcome::of(&Error::UNAVAILABLE), None);
    assert_eq!(Outcome::of(&Error::INTERNAL), None);
    for o in Outcome::ALL {
        assert_eq!(Outcome::parse(o.as_str()), Some(o));
        assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
    }
}

#[test]
fn queries_are_checked_and_name_the_field() {
    let now = at(1_795_946_405);
    let q = UsageQuery::parse(&[], now).unwrap();
    assert_eq!(q.granularity, Granularity::Hour);
    assert_eq!(q.to, now);
    let field =
        |q: &[(&str, &str)]| match UsageQuery::parse(&pairs(q), now).map_err(Error::into_detail) {
            Err(Detail::Field { field, .. }) => field,
            other => panic!("expected 422, got {other:?}"),
        };
    assert_eq!(field(&[("granularity", "week")]), "granularity");
    assert_eq!(field(&[("from", "yesterday")]), "from");
    assert_eq!(
        field(&[
            ("from", "2026-11-24T11:00:00Z"),
            ("to", "2026-11-24T10:00:00Z")
        ]),
        "from"
    );
    // Minute buckets are kept 48 hours.
    assert_eq!(
        field(&[("granularity", "minute"), ("from", "2026-11-21T00:00:00Z")]),
        "from"
    );
    assert!(UsageQuery::parse(
        &pairs(&[("granularity", "day"), ("from", "2026-01-01T00:00:00Z")]),
        now
    )
    .is_ok());
    assert_eq!(field(&[("colour", "red")]), "colour");
}

#[test]
fn the_series_merges_stored_rows_and_the_open_minute() {
    let t0 = 1_795_946_400; // a whole hour
    let mut open = Open::default();
    let mut rows = Vec::new();
    let mut countries = Vec::new();
    for (i, outcome) in [Outcome::Valid, Outcome::Valid, Outcome::IpNotAllowed]
        .into_iter()
        .enumerate()
    {
        let closed = open.record(&one(outcome, 1, Some("FR")), at(t0 + 60 * i as u64));
        rows.extend(closed.rows);
        countries.extend(closed.countries);
    }
    let query = UsageQuery {
        granularity: Granularity::Hour,
        from: at(t0),
        to: at(t0 + 3_599),
    };
    let s = series(
        &query,
        &Stored {
            rows: rows.clone(),
            countries: countries.clone(),
        },
        &open,
    );
    assert_eq!(s["totals"]["valid"], json!({"count": 2, "cost": 2}));
    assert_eq!(s["totals"]["ip_not_allowed"]["count"], 1);
    assert_eq!(s["buckets"].as_array().unwrap().len(), 1);
    assert_eq!(s["countries"], json!([{"country": "FR", "count": 3}]));
    let minutes = UsageQuery {
        granularity: Granularity::Minute,
        ..query
    };
    assert_eq!(
        series(
            &minutes,
            &Stored {
                rows: rows.clone(),
                countries: countries.clone()
            },
            &open
        )["buckets"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn an_owner_sum_adds_its_keys_series() {
    let t0 = 1_795_946_400;
    let query = UsageQuery {
        granularity: Granularity::Hour,
        from: at(t0),
        to: at(t0 + 3_599),
    };
    let mut keys = Vec::new();
    for (outcome, country) in [
        (Outcome::Valid, "DE"),
        (Outcome::Valid, "FR"),
        (Outcome::RateLimited, "DE"),
    ] {
        let mut open = Open::default();
        open.record(&one(outcome, 2, Some(country)), at(t0 + 10));
        keys.push(series(&query, &Stored::default(), &open));
    }
    let total = sum(&query, &keys);
    assert_eq!(total["totals"]["valid"], json!({"count": 2, "cost": 4}));
    assert_eq!(total["totals"]["rate_limited"]["count"], 1);
    assert_eq!(total["buckets"].as_array().unwrap().len(), 1);
    assert_eq!(
        total["countries"],
        json!([{"country": "DE", "count": 2}, {"country": "FR", "count": 1}])
    );
}

proptest! {
    /// However decisions fall across minutes, every granularity's series
    /// adds up to exactly what was recorded.
    #[test]
    fn fuzz_every_granularity_counts_every_decision_once(
        steps in prop::collection::vec((0u64..400, 0usize..9, 0u64..5), 1..200)
    ) {
        let mut open = Open::default();
        let (mut rows, mut countries) = (Vec::new(), Vec::new());
        let mut now = 1_795_946_400u64;
        let mut expected = Counts::new();
        for (gap, outcome, cost) in steps {
            now += gap;
            let outcome = Outcome::ALL[outcome];
            let closed = open.record(&one(outcome, cost, Some("NL")), at(now));
            rows.extend(closed.rows);
            countries.extend(closed.countries);
            expected.entry(outcome).or_default().add(Tally { count: 1, cost });
        }
        for g in Granularity::ALL {
            let query = UsageQuery { granularity: g, from: at(0), to: at(now) };
            let s = series(&query, &Stored { rows: rows.clone(), countries: countries.clone() }, &open);
            for (outcome, tally) in &expected {
                prop_assert_eq!(&s["totals"][outcome.as_str()], &json!(tally));
            }
            let total: u64 = expected.values().map(|t| t.count).sum();
            prop_assert_eq!(&s["countries"][0]["count"], &json!(total));
        }
    }
}
