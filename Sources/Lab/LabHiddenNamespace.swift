import Foundation

/// The `veth-peer-hidden` fault: an instance's qvo moved into a network namespace that has no
/// name and no process, held only by a bind mount on a file in the lab's state directory. The
/// qvb's peer then lives where no tool that lists namespaces finds it, as when a veth end is
/// moved into a container's or a dead agent's namespace.
extension LabRuntime {
    /// The file that holds the hidden namespace (removed by repair and by `lab down`).
    static func hiddenNamespaceFile(stateDirectory: String) -> String { "\(stateDirectory)/hidden-netns" }

    /// The name the namespace has for the moment it is created (prefixed like every lab namespace).
    static func hiddenNamespaceName(prefix: String) -> String { prefix.isEmpty ? "hidden" : "\(prefix)-hidden" }

    /// Moves `vm`'s qvo into a fresh namespace, then drops the namespace's name: only the bind
    /// mount on `hiddenNamespaceFile` keeps it (and the qvo) alive.
    func hideInstancePort(_ vm: some LabInstancePort) async throws {
        let name = LabRuntime.hiddenNamespaceName(prefix: plan.prefix)
        let file = LabRuntime.hiddenNamespaceFile(stateDirectory: plan.stateDirectory)
        let step = "veth-peer-hidden"
        try await run(["ip", "netns", "add", name], step: step)
        do {
            guard FileManager.default.createFile(atPath: file, contents: nil) else {
                throw LabError.setupFailed(step: step, detail: "cannot create \(file)")
            }
            try await run(["mount", "--bind", "/run/netns/\(name)", file], step: step)
            try await run(["ip", "-n", plan.computeNode.namespace, "link", "set", vm.ovsPort, "netns", file], step: step)
        } catch {
            try? deleteNamespaceMount(file, step: step)
            try? deleteNamedNamespace(name)
            throw error
        }
        try deleteNamedNamespace(name)
    }

    /// Lets the hidden namespace go (the qvo and, with it, the qvb vanish), then plugs a new
    /// qvb/qvo pair as os-vif does.
    func unhideInstancePort(_ vm: some LabInstancePort) async throws {
        try deleteNamespaceMount(LabRuntime.hiddenNamespaceFile(stateDirectory: plan.stateDirectory), step: "veth-peer-hidden")
        try deleteNamedNamespace(LabRuntime.hiddenNamespaceName(prefix: plan.prefix))
        // The kernel frees the namespace (and the veth pair) asynchronously: wait for the qvb to go.
        for _ in 0..<50 {
            let r = try await run(["ip", "-n", plan.computeNode.namespace, "-o", "link", "show"], step: "veth-peer-hidden")
            if !r.standardOutput.contains("\(vm.bridgeVeth)@") && !r.standardOutput.contains(" \(vm.bridgeVeth):") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await plugInstanceVeth(vm)
    }
}
