//! The error half of the OpenAPI document, stated once for every operation: each error answer is
//! `application/problem+json` (`Problem`), and the statuses any operation of its shape can answer
//! — a parameter or body that does not parse, a missing or refused token, an unknown id, a body too
//! large or of the wrong type, invalid fields, a dependency down — are documented even where its
//! handler's annotation names only its own. Clients generated from the document (the web app's)
//! and schema-driven tests (schemathesis) then see every answer the server can give.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

const PROBLEM: &str = "application/problem+json";

/// Rewrites `openapi` in place: problem+json for every 4xx/5xx, and the shared error statuses.
pub fn document_errors(openapi: &mut OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        let operations =
            [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head];
        for operation in operations.into_iter().flatten() {
            document(operation);
        }
    }
}

fn document(operation: &mut Operation) {
    let params = operation.parameters.as_deref().unwrap_or_default();
    let in_path = params.iter().any(|p| p.parameter_in == ParameterIn::Path);
    let in_query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
    let body = operation.request_body.is_some();
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());

    let mut shared: Vec<(&str, &str)> =
        vec![("503", "A dependency (PostgreSQL, Redis, AWS) is unavailable; retry later")];
    if in_path || in_query || body {
        shared.push(("400", "The request does not parse: a malformed parameter or body"));
    }
    if in_query || body {
        shared.push(("422", "Fields that parse but are invalid; `errors` names each"));
    }
    if in_path {
        shared.push(("404", "Nothing has that id"));
    }
    if body {
        shared.push(("413", "The body is larger than the server accepts"));
        shared.push(("415", "The body is not `application/json`"));
    }
    if secured {
        shared.push(("401", "No valid access token"));
        shared.push(("403", "The token's account may not do this"));
    }
    let responses = &mut operation.responses.responses;
    for (status, description) in shared {
        responses.entry(status.to_owned()).or_insert_with(|| RefOr::T(problem(description)));
    }
    for (status, response) in responses.iter_mut() {
        if let (true, RefOr::T(response)) = (status.starts_with('4') || status.starts_with('5'), response) {
            as_problem(response);
        }
    }
}

fn problem(description: &str) -> Response {
    let mut response = ResponseBuilder::new().description(description).build();
    as_problem(&mut response);
    response
}

/// An error answer documented with the `Problem` schema (or with none) is problem+json; one with a
/// body of its own (`/readyz`'s 503 is its `Readiness`) stays as declared.
fn as_problem(response: &mut Response) {
    let problem_or_nothing = response.content.values().all(|content| match &content.schema {
        None => true,
        Some(RefOr::Ref(r)) => r.ref_location.ends_with("/Problem"),
        Some(RefOr::T(_)) => false,
    });
    if !problem_or_nothing {
        return;
    }
    response.content.clear();
    response
        .content
        .insert(PROBLEM.to_owned(), ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build());
}
