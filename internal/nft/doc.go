// Package nft enforces omamori's block and isolation decisions in the Linux
// kernel's nftables, on the hospital's gateway.
//
// It sits at the end of the response path: detect raises an alert, respond
// turns it into a decision (after the clinical guardrails), and an Enforcer
// from this package puts the decision's addresses into kernel sets, where the
// next packet from an attacker is dropped. It speaks netlink directly through
// github.com/google/nftables (no nft binary, no shell). Decisions is the
// adapter from respond's decisions to the Enforcer's prefixes: it keeps an
// address in the kernel while any decision in force stands on it.
//
// The Enforcer owns one table, "inet omamori", and touches nothing else:
//
//	table inet omamori {
//	  set block4_gN      { type ipv4_addr; flags timeout }           # attackers' addresses
//	  set blocknet4_gN   { type ipv4_addr; flags interval,timeout }  # attackers' networks
//	  set block6_gN, blocknet6_gN                                    # the same for IPv6
//	  set isolate4_gN, isolatenet4_gN, isolate6_gN, isolatenet6_gN   # infected hosts
//	  set manage4, manage6 { flags interval }                        # reachable while isolated
//	  chain input   { type filter hook input priority filter - 10; policy accept; ... }
//	  chain forward { type filter hook forward priority filter - 10; policy accept; ... }
//	}
//
// Packets from a blocked address are dropped on input and forward. An isolated
// host can neither send nor receive through the gateway, except to and from
// the management addresses. Single addresses go into hash sets and networks
// into interval sets, because the kernel's interval set costs time in
// proportion to its size on every change (measured on Linux 6.18: one Block
// into a 200,000-element interval set took 61 ms, into a hash set 64 µs).
//
// The N in the set names is a generation: Reconcile loads a whole new
// generation and switches the rules to it in one transaction, so a restart
// never leaves a gap in protection and never has to read a large set back
// from the kernel (omamori's own store is the authoritative list; a kernel
// dump of an interval set is quadratic, a million elements take minutes).
//
// Every element carries its own timeout, so a block ends on time even if
// omamori is down. Networks that nest (10.0.0.0/8 and 10.1.0.0/16) cannot both
// be in an interval set; the Enforcer keeps the widest one in the kernel and
// puts a narrower, longer-lived one back when the wider one ends or is
// unblocked. Addresses sit in their hash set beside any network.
//
// google/nftables v0.3.0 (the newest version the module proxy serves) encodes
// all elements of one call into a single netlink attribute whose length is 16
// bits, so more than a few thousand elements in one call are silently lost.
// The Enforcer therefore never puts more than maxElemsPerMsg elements in one
// message, and at most Config.BatchSize prefixes in one transaction.
package nft
