// Thin client of custseg's API: JSON in, JSON out; errors carry the API's detail (422 lists fields).
export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === 'string' ? detail : `request failed (${status})`);
    this.status = status;
    this.detail = detail;
  }
}

export async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} : {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data && data.detail);
  return data;
}
