import Foundation

/// Secrets (tokens, passwords, the bootstrap secret) are passed as files, never as arguments that
/// `ps` and shell histories show.
public enum SecretFile {
    /// The first line of a secret file, without its line break or surrounding blanks.
    public static func firstLine(of path: String, flag: String) throws(ConfigError) -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError("\(flag): cannot read \(path)")
        }
        return String(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            .trimmingCharacters(in: .whitespaces)
    }
}
