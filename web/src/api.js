// Thin client of custseg's API: JSON in, JSON out (POST, or the method given); errors carry the
// API's detail (422 lists fields).
export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === 'string' ? detail : `request failed (${status})`);
    this.status = status;
    this.detail = detail;
  }
}

export async function api(path, body, method) {
  const res = await fetch(path, body === undefined ? {} : {
    method: method || 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data && data.detail);
  return data;
}

// A 422's messages by field (the last element of each error's loc), for showing beside form fields.
export function fieldErrors(e) {
  const out = {};
  if (e instanceof ApiError && e.status === 422 && Array.isArray(e.detail)) {
    for (const d of e.detail) {
      const key = d.loc && d.loc.length ? d.loc[d.loc.length - 1] : 'body';
      out[key] = out[key] ? `${out[key]}; ${d.msg}` : d.msg;
    }
  }
  return out;
}
