package cwsim

func init() {
	register("GET /system/info", (*Sim).systemInfo)
}

// systemInfo answers GET /system/info, which clients call to test a
// connection.
func (s *Sim) systemInfo(q *request) response {
	return getOne(q.r, map[string]any{
		"version":        s.opts.VersionCode + ".0",
		"isCloud":        s.opts.IsCloud,
		"serverTimeZone": "UTC",
		"cloudRegion":    "",
	})
}
