import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { advertiseUrlFor, Identity, instanceIdFor } from '../../../src/ops/identity.js';

describe('Identity', () => {
  it('a configured id gets the worker suffix in a --workers worker, and stays as given otherwise', () => {
    expect(instanceIdFor('edge-1', {})).toBe('edge-1');
    expect(instanceIdFor('edge-1', { SLABCAST_WORKER_INDEX: '3' })).toBe('edge-1-w3');
    expect(new Identity('edge-1', '', { SLABCAST_WORKER_INDEX: '0' }).instanceId).toBe('edge-1-w0');
  });

  it('without a configured id: hostname, pid and a random part, different each time', () => {
    const a = instanceIdFor('', {});
    const b = instanceIdFor('', {});
    expect(a.startsWith(`${hostname()}-${process.pid}-`)).toBe(true);
    expect(a).not.toBe(b);
  });

  it('the advertised URL loses its trailing slashes, and is used as given over the bound address', () => {
    const id = new Identity('x', 'wss://edge.example.com/');
    expect(id.advertiseUrl).toBe('wss://edge.example.com');
    expect(id.urlFor('127.0.0.1', 8080)).toBe('wss://edge.example.com');
  });

  it('without one: ws://host:port of the bound socket, the hostname for a wildcard bind, IPv6 in brackets', () => {
    const id = new Identity('x', '');
    expect(id.advertiseUrl).toBe('');
    expect(id.urlFor('127.0.0.1', 8080)).toBe('ws://127.0.0.1:8080');
    expect(id.urlFor('0.0.0.0', 81)).toBe(`ws://${hostname()}:81`);
    expect(advertiseUrlFor('', '::1', 82)).toBe('ws://[::1]:82');
  });
});
