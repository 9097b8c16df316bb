/**
 * The client's IP address: the socket peer, or what `X-Forwarded-For` says when (and only when)
 * the peer is one of `gateway.trustedProxies`.
 */
import * as Net from "node:net"
import type { TrustedProxy } from "../config/ConfigFile.js"

/** IPv4 peers on a dual-stack socket show up as `::ffff:a.b.c.d`. */
const unmapped = (address: string) =>
  address.startsWith("::ffff:") && Net.isIPv4(address.slice(7))
    ? address.slice(7)
    : address

const family = (address: string) => Net.isIPv6(address) ? "ipv6" : "ipv4"

export const isLoopback = (address: string) => {
  const ip = unmapped(address)
  return ip === "::1" || (Net.isIPv4(ip) && ip.startsWith("127."))
}

/** Builds the resolver for a list of trusted proxies (as the config decodes them). */
export const resolver = (trustedProxies: ReadonlyArray<TrustedProxy>) => {
  const trusted = new Net.BlockList()
  for (const proxy of trustedProxies) trusted.addSubnet(proxy.address, proxy.prefix, proxy.family)
  const isTrusted = (ip: string) => trustedProxies.length > 0 && trusted.check(ip, family(ip))

  return (peer: string | undefined, forwardedFor: string | undefined): string => {
    const client = unmapped(peer ?? "unknown")
    if (forwardedFor === undefined || !Net.isIP(client) || !isTrusted(client)) return client
    // The rightmost address that is not one of our proxies is the one a proxy of ours saw.
    const hops = forwardedFor.split(",").map((hop) => unmapped(hop.trim())).filter((hop) => Net.isIP(hop) !== 0)
    return hops.findLast((hop) => !isTrusted(hop)) ?? hops[0] ?? client
  }
}
