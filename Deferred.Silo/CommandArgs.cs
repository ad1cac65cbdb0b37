using System.Globalization;

namespace Deferred.Silo;

/// <summary>
/// Reads a command's <c>--name value</c> options one at a time. Every problem is an <see cref="ArgumentException"/>
/// that names the option and the bad value, for the command to print with its usage line.
/// </summary>
internal sealed class CommandArgs(string[] args)
{
    private int _index = -1;

    /// <summary>The option being read.</summary>
    public string Name => args[_index];

    /// <summary>Moves to the next option; false at the end.</summary>
    public bool MoveNext() => ++_index < args.Length;

    /// <summary>The current option's value.</summary>
    public string Value() => _index + 1 < args.Length ? args[++_index] : throw new ArgumentException($"{Name} needs a value");

    /// <summary>The current option's value as a whole number of at least <paramref name="min"/>.</summary>
    public int Number(int min)
    {
        var name = Name;
        var text = Value();
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min
            ? n
            : throw new ArgumentException($"{name} must be a whole number of at least {min}, not '{text}'");
    }

    /// <summary>The error for an option the command does not know.</summary>
    public ArgumentException Unknown() => new($"unknown option '{Name}'");
}
