import { openApiText } from './openapi-document.js';
import type { Router } from './router.js';

/** Serves the OpenAPI document at `GET /openapi.json` (built once, on first request). */
export function mountOpenApi(router: Router): void {
  let text: string | undefined;
  router.on('GET', '/openapi.json', async (request) => {
    request.req.resume();
    text ??= openApiText();
    return { status: 200, raw: text, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'public, max-age=300' } };
  });
}
