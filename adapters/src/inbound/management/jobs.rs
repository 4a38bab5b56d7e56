//! Dead jobs and their requeue.

use super::*;

/// `GET /api/v1/jobs/dead?limit=&cursor=`
#[utoipa::path(get, path = "/api/v1/jobs/dead", tag = "Management", params(PageQuery), security(("api_key" = [])),
    summary = "List dead jobs",
    description = "Jobs that failed every attempt, with their last error, most recently dead first; pages by cursor.",
    responses((status = 200, description = "dead jobs, most recently dead first", body = DeadJobPage), (status = 400, description = "`invalid_request` or `invalid_cursor`: the limit or the cursor"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be read")))]
#[tracing::instrument(skip_all, name = "management.dead_jobs")]
pub async fn dead_jobs(
    state: web::Data<ManagementState>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page_request(List::DeadJobs, page.limit.as_deref(), page.cursor.as_deref())?;
    let found = state.reads.dead_jobs(page).await?;
    Ok(HttpResponse::Ok().json(page_body::<_, DeadJobBody>(List::DeadJobs, found)))
}

/// `POST /api/v1/jobs/{id}/requeue`
#[utoipa::path(post, path = "/api/v1/jobs/{id}/requeue", tag = "Management", params(("id" = i64, Path, description = "job id")), security(("api_key" = [])),
    summary = "Requeue a dead job",
    description = "Queues a dead job again with its attempts reset; only a dead job can be requeued.",
    responses((status = 200, description = "queued again", body = crate::inbound::openapi::schemas::Requeued), (status = 404, description = "`not_found`: no dead job with this id"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be written")))]
#[tracing::instrument(skip_all, name = "management.requeue", fields(job_id = *id))]
pub async fn requeue(state: web::Data<ManagementState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    if state.dead_letters.requeue(*id).await? {
        Ok(HttpResponse::Ok().json(serde_json::json!({ "id": *id, "state": "queued" })))
    } else {
        Err(ApiError::new(ErrorCode::NotFound, format!("no dead job {id}")))
    }
}
