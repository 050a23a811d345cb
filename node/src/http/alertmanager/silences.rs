//! `GET|POST /api/v2/silences` and `GET|DELETE /api/v2/silence/{id}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use tidemark_alerting::notify::matcher::{MatchType, Matcher, Matchers, parse_matchers};
use tidemark_alerting::notify::silence::{Silence, SilenceState};
use tidemark_alerting::notify::state::NotifierCommand;
use tidemark_api::alertmanager::{
    GettableSilence, Matcher as ApiMatcher, PostSilencesAnswer, PostableSilence,
    SilenceState as ApiState, SilenceStatus, parse_rfc3339_ms, rfc3339_ms,
};
use tidemark_storage::{Label, Labels};

use super::{AmError, Answer, json, notifier, values};
use crate::http::AppState;
use crate::http::notifier_config::actor;
use crate::meta::random_uuid;

/// A silence as the API shows it at `now`.
fn gettable(s: &Silence, now: i64) -> GettableSilence {
    GettableSilence {
        id: s.id.clone(),
        status: SilenceStatus {
            state: match s.state(now) {
                SilenceState::Pending => ApiState::Pending,
                SilenceState::Active => ApiState::Active,
                SilenceState::Expired => ApiState::Expired,
            },
        },
        updated_at: rfc3339_ms(s.updated_at_ms),
        annotations: s.annotations.clone(),
        comment: s.comment.clone(),
        created_by: s.created_by.clone(),
        ends_at: rfc3339_ms(s.ends_at_ms),
        matchers: s
            .matchers
            .iter()
            .map(|m| ApiMatcher {
                is_equal: matches!(m.kind, MatchType::Equal | MatchType::Regex),
                is_regex: matches!(m.kind, MatchType::Regex | MatchType::NotRegex),
                name: m.name.clone(),
                value: m.value.clone(),
            })
            .collect(),
        starts_at: rfc3339_ms(s.starts_at_ms),
    }
}

/// Whether `s` passes the `filter` matchers: they must match the label set its equality
/// matchers describe (Alertmanager's `CheckSilenceMatchesFilterLabels`).
fn passes(s: &Silence, filters: &[Matchers]) -> bool {
    let described = Labels::new(
        s.matchers
            .iter()
            .filter(|m| m.kind == MatchType::Equal)
            .map(|m| Label::new(m.name.clone(), m.value.clone()))
            .collect(),
    );
    filters.iter().all(|f| f.matches(&described))
}

/// `GET /api/v2/silences`: active ones first (soonest end first), then pending (soonest start
/// first), then expired (latest end first).
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Answer {
    let n = notifier(&state)?;
    let filters = values(&params, "filter")
        .map(parse_matchers)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AmError::Message(StatusCode::BAD_REQUEST, e))?;
    let now = n.ruler().clock().now_ms();
    let mut silences: Vec<Silence> = n.ruler().with_state(|s| {
        s.notifier
            .silences
            .values()
            .filter(|s| passes(s, &filters))
            .cloned()
            .collect()
    });
    silences.sort_by_key(|s| match s.state(now) {
        SilenceState::Active => (0, s.ends_at_ms),
        SilenceState::Pending => (1, s.starts_at_ms),
        SilenceState::Expired => (2, -s.ends_at_ms),
    });
    let out: Vec<GettableSilence> = silences.iter().map(|s| gettable(s, now)).collect();
    Ok(json(&out))
}

/// `GET /api/v2/silence/{id}`.
pub async fn get_one(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Answer {
    let n = notifier(&state)?;
    check_uuid(&id)?;
    let now = n.ruler().clock().now_ms();
    n.ruler()
        .with_state(|s| s.notifier.silences.get(&id).map(|s| gettable(s, now)))
        .map(|s| json(&s))
        .ok_or(AmError::Empty(StatusCode::NOT_FOUND))
}

/// `DELETE /api/v2/silence/{id}`: expires it (an expired one stays as it is).
pub async fn expire(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let n = notifier(&state)?;
    check_uuid(&id)?;
    if !n
        .ruler()
        .with_state(|s| s.notifier.silences.contains_key(&id))
    {
        return Err(AmError::Empty(StatusCode::NOT_FOUND));
    }
    let by = actor(&headers);
    let now_ms = n.ruler().clock().now_ms();
    n.propose(NotifierCommand::ExpireSilence {
        now_ms,
        id: id.clone(),
        by: by.clone(),
    })
    .await?;
    tracing::info!(silence = %id, by = %by, "silence expired");
    Ok(StatusCode::OK.into_response())
}

/// `POST /api/v2/silences`: creates a silence, or changes the one named by `id` (in place when
/// Alertmanager would, else by expiring it and creating a new one): `{"silenceID": ...}`.
pub async fn post(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Answer {
    let n = notifier(&state)?;
    let posted: PostableSilence = serde_json::from_slice(&body).map_err(|e| {
        AmError::Framework(
            StatusCode::BAD_REQUEST,
            400,
            format!("parsing silence body from \"\" failed, because {e}"),
        )
    })?;
    if posted.matchers.is_empty() {
        return Err(AmError::Framework(
            StatusCode::UNPROCESSABLE_ENTITY,
            612,
            "matchers in body should have at least 1 items".into(),
        ));
    }
    let now = n.ruler().clock().now_ms();
    let silence = silence_of(&posted, now)?;
    // An update Alertmanager cannot make in place creates a silence (and expires the old one):
    // it counts against the limit like a new one.
    let (exists, in_place, held) = n.ruler().with_state(|s| {
        let old = s.notifier.silences.get(&silence.id);
        (
            old.is_some(),
            old.is_some_and(|o| o.can_update_to(&silence, now)),
            s.notifier.silences.len(),
        )
    });
    if posted.id.is_some() && !exists {
        return Err(AmError::Message(
            StatusCode::NOT_FOUND,
            "silence not found".into(),
        ));
    }
    let max = n.settings().silences_max;
    if !in_place && held >= max {
        return Err(AmError::Message(
            StatusCode::BAD_REQUEST,
            format!(
                "Failed to create silence: exceeded maximum number of silences: {held} (limit: {max}, notifier.silences_max)"
            ),
        ));
    }
    let new_id = random_uuid();
    let by = actor(&headers);
    n.propose(NotifierCommand::SetSilence {
        now_ms: now,
        silence: silence.clone(),
        new_id: new_id.clone(),
    })
    .await?;
    let id = n
        .ruler()
        .with_state(|s| s.notifier.silence_id_after_set(&silence, &new_id));
    tracing::info!(silence = %id, created_by = %silence.created_by, by = %by, "silence set");
    Ok(json(&PostSilencesAnswer { silence_id: id }))
}

/// The silence `posted` describes, validated as Alertmanager validates it.
fn silence_of(posted: &PostableSilence, now: i64) -> Result<Silence, AmError> {
    let bad = |m: String| AmError::Message(StatusCode::BAD_REQUEST, m);
    let time = |t: &str| {
        parse_rfc3339_ms(t).map_err(|e| {
            AmError::Framework(
                StatusCode::BAD_REQUEST,
                400,
                format!("parsing silence body from \"\" failed, because {e}"),
            )
        })
    };
    let starts_at_ms = time(&posted.starts_at)?;
    let ends_at_ms = time(&posted.ends_at)?;
    if ends_at_ms < now {
        return Err(bad(
            "Failed to create silence: end time can't be in the past".into(),
        ));
    }
    if ends_at_ms < starts_at_ms {
        return Err(bad(
            "Failed to create silence: start time must be before end time".into(),
        ));
    }
    let matchers = posted
        .matchers
        .iter()
        .map(|m| {
            let kind = match (m.is_regex, m.is_equal) {
                (false, true) => MatchType::Equal,
                (false, false) => MatchType::NotEqual,
                (true, true) => MatchType::Regex,
                (true, false) => MatchType::NotRegex,
            };
            Matcher::new(m.name.clone(), kind, m.value.clone())
                .map_err(|e| bad(format!("invalid silence: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if matchers.iter().all(|m| m.matches_value("")) {
        return Err(bad(
            "invalid silence: matcher set 0: at least one matcher must not match the empty string"
                .into(),
        ));
    }
    Ok(Silence {
        id: posted.id.clone().unwrap_or_else(random_uuid),
        matchers,
        starts_at_ms,
        ends_at_ms,
        updated_at_ms: now,
        created_by: posted.created_by.clone(),
        comment: posted.comment.clone(),
        annotations: posted.annotations.clone(),
    })
}

/// Alertmanager refuses a silence id that is not a UUID (422).
fn check_uuid(id: &str) -> Result<(), AmError> {
    let hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
    let parts: Vec<&str> = id.split('-').collect();
    let ok = parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]) && parts.iter().all(|p| hex(p));
    if ok {
        Ok(())
    } else {
        Err(AmError::Framework(
            StatusCode::UNPROCESSABLE_ENTITY,
            601,
            format!("silenceID in path must be of type uuid: {id:?}"),
        ))
    }
}
