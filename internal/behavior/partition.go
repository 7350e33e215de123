package behavior

import "net/netip"

// Partition returns the partition, in [0, n), that owns key. It is FNV-1a, fixed for every
// node and every release, so nodes that never talk to each other agree on who owns a key.
// Addresses are hashed in their 16-byte form (see PartitionAddr).
func Partition(key []byte, n int) int {
	if n <= 1 {
		return 0
	}
	h := uint64(14695981039346656037)
	for _, c := range key {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return int(h % uint64(n))
}

// PartitionAddr returns the partition that owns an address: IPv4 and its IPv4-mapped IPv6
// form land on the same partition.
func PartitionAddr(a netip.Addr, n int) int {
	b := a.Unmap().As16()
	return Partition(b[:], n)
}

// Shard says which partitions a node owns. The zero Shard owns everything: one node.
type Shard struct {
	N     int   // number of partitions; 0 or 1 means no partitioning
	Owned []int // the partitions this node keeps state for
}

func (s Shard) ownsPart(p int) bool {
	if s.N <= 1 {
		return true
	}
	for _, o := range s.Owned {
		if o == p {
			return true
		}
	}
	return false
}

// OwnsAddr reports whether the node keeps state for key a.
func (s Shard) OwnsAddr(a netip.Addr) bool {
	if s.N <= 1 {
		return true
	}
	return s.ownsPart(PartitionAddr(a, s.N))
}

// OwnsString reports whether the node keeps state for key k.
func (s Shard) OwnsString(k string) bool {
	if s.N <= 1 {
		return true
	}
	return s.ownsPart(Partition([]byte(k), s.N))
}
