package connectwise

import "context"

// ConfigurationType is a configuration type, such as the eFolder guide's
// "Backup Stats" and "License" (Figure 8).
type ConfigurationType struct {
	ID           int    `json:"id,omitempty"`
	Name         string `json:"name,omitempty"`
	InactiveFlag bool   `json:"inactiveFlag,omitempty"`
}

// Types returns one page of configuration types, e.g. with the conditions
// name="Backup Stats". GET /company/configurations/types
func (s *ConfigurationsService) Types(ctx context.Context, opts *ListOptions) ([]ConfigurationType, *Response, error) {
	return list[ConfigurationType](ctx, s.client, configurationsPath+"/types", opts)
}
