package stackdef

// mergeGlobals applies a SAM Globals section to a resource's properties the
// way the SAM translator does:
//
//   - a property only in Globals is taken from Globals;
//   - two plain mappings are merged key by key, recursively, the resource's
//     value winning where both hold a scalar (Environment.Variables, Tags,
//     LoggingConfig);
//   - two plain lists are concatenated, Globals' entries first;
//   - anything else (scalars, intrinsic functions, differing kinds) is taken
//     from the resource.
func mergeGlobals(global, local Value) Value {
	switch {
	case global.IsZero():
		return local
	case local.IsZero():
		return global
	case global.Tag != "" || local.Tag != "" || global.Kind != local.Kind:
		return local
	}
	switch local.Kind {
	case Mapping:
		out := Value{Kind: Mapping, Map: make(map[string]Value, len(global.Map)+len(local.Map)), Line: local.Line}
		for _, k := range global.Keys {
			out.Keys = append(out.Keys, k)
			out.Map[k] = global.Map[k]
		}
		for _, k := range local.Keys {
			if g, ok := out.Map[k]; ok {
				out.Map[k] = mergeGlobals(g, local.Map[k])
				continue
			}
			out.Keys = append(out.Keys, k)
			out.Map[k] = local.Map[k]
		}
		return out
	case Sequence:
		seq := make([]Value, 0, len(global.Seq)+len(local.Seq))
		seq = append(append(seq, global.Seq...), local.Seq...)
		return Value{Kind: Sequence, Seq: seq, Line: local.Line}
	}
	return local
}
