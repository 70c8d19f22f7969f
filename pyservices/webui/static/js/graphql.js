// The gateway's GraphQL API: sendTask, tasks (newest first) and task(id).

const TASK_FIELDS = "id message binaryCode createdAt updatedAt status";
// The gateway accepts at most 15 aliases per document.
const IDS_PER_REQUEST = 15;

/**
 * A failed request: `code` is the GraphQL extensions.code, or NETWORK / HTTP_<status>;
 * `retryAfter` the seconds a RATE_LIMITED caller should wait.
 */
export class ApiError extends Error {
  constructor(message, { code, errors = [], status, cause, retryAfter } = {}) {
    super(message, { cause });
    this.code = code;
    this.errors = errors;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/**
 * `token()` gives the bearer token to send (none in open mode); `onUnauthenticated(error,
 * token)` hears of every refused token, whichever part of the page made the request.
 */
export function createClient(url, { token = () => null, onUnauthenticated = () => {} } = {}) {
  async function request(query, variables) {
    const bearer = token();
    try {
      return await send(query, variables, bearer);
    } catch (error) {
      if (error.code === "UNAUTHENTICATED" || error.status === 401) onUnauthenticated(error, bearer);
      throw error;
    }
  }

  async function send(query, variables, bearer) {
    const headers = {
      "content-type": "application/json",
      accept: "application/graphql-response+json, application/json",
    };
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    let response;
    try {
      response = await fetch(url, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
    } catch (cause) {
      throw new ApiError("The server could not be reached.", { code: "NETWORK", cause });
    }
    let body;
    try {
      body = await response.json();
    } catch {
      const status = response.status;
      throw new ApiError(`The server answered HTTP ${status}.`, { code: `HTTP_${status}`, status });
    }
    if (Array.isArray(body.errors) && body.errors.length > 0) {
      const first = body.errors[0];
      const retryAfter = Number(first.extensions?.retryAfter ?? response.headers.get("retry-after"));
      throw new ApiError(String(first.message ?? "Unknown error"), {
        code: first.extensions?.code ?? "GRAPHQL",
        errors: body.errors,
        status: response.status,
        retryAfter: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
      });
    }
    if (!response.ok || !body.data) {
      const status = response.status;
      throw new ApiError(`The server answered HTTP ${status}.`, { code: `HTTP_${status}`, status });
    }
    return body.data;
  }

  return {
    async sendTask(messages) {
      const query = `mutation Send($messages: [String!]!) { sendTask(messages: $messages) { ${TASK_FIELDS} } }`;
      return (await request(query, { messages })).sendTask;
    },

    async tasks(limit, offset) {
      const query = `query Tasks($limit: Int, $offset: Int) { tasks(limit: $limit, offset: $offset) { ${TASK_FIELDS} } }`;
      return (await request(query, { limit, offset })).tasks;
    },

    /** The tasks with these ids (unknown ids are left out), a few requests at most. */
    async tasksById(ids) {
      const chunks = [];
      for (let start = 0; start < ids.length; start += IDS_PER_REQUEST) {
        chunks.push(ids.slice(start, start + IDS_PER_REQUEST));
      }
      const answers = await Promise.all(
        chunks.map((chunk) => {
          const params = chunk.map((_, i) => `$i${i}: String!`).join(", ");
          const fields = chunk.map((_, i) => `t${i}: task(id: $i${i}) { ${TASK_FIELDS} }`).join(" ");
          const variables = Object.fromEntries(chunk.map((id, i) => [`i${i}`, id]));
          return request(`query Pending(${params}) { ${fields} }`, variables);
        }),
      );
      return answers.flatMap((data) => Object.values(data)).filter(Boolean);
    },
  };
}
