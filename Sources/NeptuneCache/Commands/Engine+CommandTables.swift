extension Engine {
    /// A command's spec in the compact, positional form the engine's command tables (``builtinCommands``,
    /// ``collectionCommands``, ``blockingCommands``) are written in.
    ///
    /// ```swift
    /// spec("get", 2, ["readonly", "fast"], (1, 1, 1), ["read", "string", "fast"], "string",
    ///      "Returns the string value of a key.", get)
    /// ```
    ///
    /// - Parameters:
    ///   - name: The lower-case command name.
    ///   - arity: Redis arity (negative: at least that many arguments, the name included).
    ///   - flags: Redis command flags.
    ///   - keys: First key, last key (negative: from the end) and step.
    ///   - categories: ACL categories without the `@`.
    ///   - group: The COMMAND DOCS group.
    ///   - summary: The COMMAND DOCS summary.
    ///   - since: The Redis version that added the command.
    ///   - complexity: The COMMAND DOCS time complexity.
    ///   - body: The implementation.
    /// - Returns: The spec to register.
    static func spec(
        _ name: String,
        _ arity: Int,
        _ flags: Set<String>,
        _ keys: (Int, Int, Int),
        _ categories: [String],
        _ group: String,
        _ summary: String,
        since: String = "1.0.0",
        complexity: String = "O(1)",
        _ body: @escaping CommandBody
    ) -> CommandSpec {
        CommandSpec(
            name, arity: arity, flags: flags, keys: keys, categories: categories, group: group, summary: summary,
            since: since, complexity: complexity, body: body
        )
    }
}
