package connectwise

import "context"

// CatalogService handles /procurement/catalog (products).
type CatalogService service

// CatalogItem is a product (identifier max 75).
type CatalogItem struct {
	ID                  int     `json:"id,omitempty"`
	Identifier          string  `json:"identifier,omitempty"`
	Description         string  `json:"description,omitempty"`
	CustomerDescription string  `json:"customerDescription,omitempty"`
	Price               float64 `json:"price,omitempty"`
	Cost                float64 `json:"cost,omitempty"`
	InactiveFlag        bool    `json:"inactiveFlag,omitempty"`
}

// List returns one page of catalog items. GET /procurement/catalog
func (s *CatalogService) List(ctx context.Context, opts *ListOptions) ([]CatalogItem, *Response, error) {
	return list[CatalogItem](ctx, s.client, "procurement/catalog", opts)
}
