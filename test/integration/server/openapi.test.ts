/**
 * `GET /openapi.json` against the routes the relay really has: every documented operation answers
 * (something other than 404, on the port its tag names), every route of the relay's router is
 * documented, and the document is OpenAPI 3.1 with its references resolved.
 */
import { expect } from 'chai';
import { PACKAGE_VERSION } from '../../../server/package-info';
import { api, request, startRelay, type TestRelay } from '../../harness/stomp-test-kit';
import { concrete, documented, routesOf, type OpenApi } from '../../harness/openapi-routes';

describe('server: OpenAPI document', function () {
  let server: TestRelay;
  let doc: OpenApi;

  before(async () => {
    server = await startRelay();
    const res = await request(`${server.http}/openapi.json`);
    expect(res.status, res.text).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^application\/json/);
    doc = res.body as OpenApi;
  });
  after(async () => { await server.close(); });

  it('is OpenAPI 3.1 (valid against the specification\'s JSON schema) and names this version of the relay', async () => {
    expect(doc.openapi).to.match(/^3\.1\.\d+$/);
    expect(doc.info.version).to.equal(PACKAGE_VERSION);
    // ESM-only package: loaded with a dynamic import from this CommonJS test.
    const { Validator } = await import('@seriousme/openapi-schema-validator');
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as unknown as Parameters<typeof validator.validate>[0]);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 1)?.slice(0, 2000)).to.deep.equal([]);
    expect(result.valid).to.equal(true);
    expect(validator.version).to.equal('3.1');
  });

  it('documents every route of the relay\'s router', () => {
    const missing = routesOf(server.relay.router).filter((r) => !documented(doc).has(r));
    expect(missing, 'routes without an OpenAPI operation').to.deep.equal([]);
  });

  it('documents only operations that exist: each answers something other than 404', async () => {
    const absent: string[] = [];
    for (const [key, op] of documented(doc)) {
      const [method, path] = key.split(' ');
      const res = await api(server, method, concrete(path, op));
      if (res.status === 404) absent.push(`${key} → ${res.text.slice(0, 120)}`);
    }
    expect(absent).to.deep.equal([]);
  });

  it('gives every operation an id, a summary, responses, and one tag saying its port', () => {
    const ids = new Set<string>();
    for (const [key, op] of documented(doc)) {
      expect(op.operationId, key).to.be.a('string');
      expect(ids.has(op.operationId!), `${key}: operationId ${op.operationId} is unique`).to.equal(false);
      ids.add(op.operationId!);
      expect(op.summary, key).to.be.a('string').and.not.equal('');
      expect(Object.keys(op.responses ?? {}), key).to.not.be.empty;
      expect(op.tags, key).to.satisfy((t: string[]) => t.length === 1 && ['public', 'admin'].includes(t[0]));
    }
  });

  it('names the scope each HTTP API operation needs, as docs/http-api.md does', () => {
    const scopes = (key: string) => documented(doc).get(key)?.security?.flatMap((s) => s.bearerJwt ?? []).sort();
    expect(scopes('POST /push/{user}')).to.deep.equal(['push']);
    expect(scopes('POST /push')).to.deep.equal(['push']);
    expect(scopes('POST /publish')).to.deep.equal(['publish']);
    expect(scopes('GET /users')).to.deep.equal(['admin']);
    expect(scopes('GET /users/{user}')).to.deep.equal(['admin', 'push']);
    expect(scopes('DELETE /users/{user}/sessions')).to.deep.equal(['admin']);
    expect(doc.components?.securitySchemes).to.have.property('bearerJwt');
  });

  it('resolves every $ref to a component that exists', () => {
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).to.be.greaterThan(0);
    for (const ref of refs) {
      const [, section, name] = /#\/components\/(\w+)\/([\w-]+)/.exec(ref) ?? [];
      expect(doc.components?.[section]?.[name], ref).to.not.equal(undefined);
    }
  });
});
