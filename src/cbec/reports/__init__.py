"""File outputs for people and other systems (CSV, Excel): impure edges that format what the rules decided."""
