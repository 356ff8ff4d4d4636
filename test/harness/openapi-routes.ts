/**
 * Reading the relay's OpenAPI document and its express router side by side, for the tests that
 * check one against the other (openapi.test.ts) and the ADMIN_PORT split (admin-port.test.ts).
 */
import type { Router } from 'express';

export interface Operation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  parameters?: Array<{ name: string; in: string; required?: boolean; example?: unknown; schema?: unknown }>;
  responses?: Record<string, unknown>;
  security?: Array<Record<string, string[]>>;
}
export type OpenApi = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components?: Record<string, Record<string, unknown>>;
};

const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'];

/** Every `METHOD /path` of an OpenAPI document, paths in OpenAPI form (`/users/{user}`). */
export function documented(doc: OpenApi): Map<string, Operation> {
  const out = new Map<string, Operation>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) if (METHODS.includes(method)) out.set(`${method.toUpperCase()} ${path}`, op);
  }
  return out;
}

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[]; name?: string };
  name: string;
  rawPath?: string;
}

/**
 * Every `METHOD /path` an express router serves, walking nested routers: routes as declared
 * (`:user` written `{user}`), static mounts as `GET <mount>/{file}` (the demo at `/` as `GET /`).
 */
export function routesOf(router: Router, prefix = ''): string[] {
  const out: string[] = [];
  for (const layer of (router as unknown as { stack: Layer[] }).stack) {
    const mount = layer.rawPath && layer.rawPath !== '/' ? layer.rawPath : '';
    if (layer.route) {
      const path = (prefix + layer.route.path).replace(/:(\w+)/g, '{$1}');
      for (const method of Object.keys(layer.route.methods)) out.push(`${method.toUpperCase()} ${path}`);
    } else if (layer.handle.stack) {
      out.push(...routesOf(layer.handle as unknown as Router, prefix + mount));
    } else if (layer.name === 'serveStatic') {
      out.push(mount === '' ? `GET ${prefix || '/'}` : `GET ${prefix}${mount}/{file}`);
    }
  }
  return out;
}

/** A documented path with each path parameter replaced by its example. */
export function concrete(path: string, op: Operation): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const param = op.parameters?.find((p) => p.in === 'path' && p.name === name);
    if (param?.example === undefined) throw new Error(`path parameter ${name} of ${path} has no example`);
    return encodeURIComponent(String(param.example));
  });
}
