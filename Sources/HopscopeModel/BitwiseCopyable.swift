// The address types are plain bytes. Saying so lets the packet decoders keep them inside values
// that must never allocate or reference-count (a decoded `Packet`); the compiler checks it.
extension MACAddress: BitwiseCopyable {}
extension IPv4Address: BitwiseCopyable {}
extension IPv6Address: BitwiseCopyable {}
extension IPAddress: BitwiseCopyable {}
