import HopscopeModel

/// Edits of a snapshot value that reproduce the lab's faults offline (a link down, a rule or
/// flow removed, an OVSDB column changed), shared by the path and diagnosis tests.
extension Snapshot {
    public mutating func editNamespace(_ label: String, _ body: (inout NamespaceInventory) -> Void) {
        let i = network.namespaces.firstIndex { $0.namespace.label == label }!
        body(&network.namespaces[i])
    }

    public mutating func editLink(_ namespace: String, _ name: String, _ body: (inout Link) -> Void) {
        editNamespace(namespace) { ns in
            let i = ns.links.firstIndex { $0.name == name }!
            body(&ns.links[i])
        }
    }

    /// Removes every line of a namespace's iptables-save that contains all of `fragments`; returns how many.
    @discardableResult
    public mutating func removeIptablesLines(_ namespace: String, containing fragments: [String]) -> Int {
        let i = firewalls.firstIndex { $0.namespace == namespace }!
        let lines = firewalls[i].iptablesSave!.split(separator: "\n", omittingEmptySubsequences: false)
        let kept = lines.filter { line in !fragments.allSatisfy { line.contains($0) } }
        firewalls[i].iptablesSave = kept.joined(separator: "\n")
        return lines.count - kept.count
    }

    public mutating func editSwitch(_ node: String, _ body: (inout OVSInstanceSnapshot) -> Void) {
        let i = openVSwitch.firstIndex { $0.instance.node == node }!
        body(&openVSwitch[i])
    }

    /// Removes flow lines of a bridge that contain all of `fragments`; returns how many.
    @discardableResult
    public mutating func removeFlows(_ node: String, bridge: String, containing fragments: [String]) -> Int {
        var removed = 0
        editSwitch(node) { s in
            let b = s.openFlow.firstIndex { $0.bridge == bridge }!
            let lines = s.openFlow[b].flowDump.split(separator: "\n", omittingEmptySubsequences: false)
            let kept = lines.filter { line in !fragments.allSatisfy { line.contains($0) } }
            removed = lines.count - kept.count
            s.openFlow[b].flowDump = kept.joined(separator: "\n")
        }
        return removed
    }

    /// Changes one Port row of a node's switch database.
    public mutating func editPort(_ node: String, _ name: String, _ body: (inout OVSPortRow) -> Void) {
        editSwitch(node) { o in
            let i = o.database!.ports.firstIndex { $0.name == name }!
            body(&o.database!.ports[i])
        }
    }

    /// Changes one Interface row of a node's switch database.
    public mutating func editInterface(_ node: String, _ name: String, _ body: (inout OVSInterfaceRow) -> Void) {
        editSwitch(node) { o in
            let i = o.database!.interfaces.firstIndex { $0.name == name }!
            body(&o.database!.interfaces[i])
        }
    }
}
