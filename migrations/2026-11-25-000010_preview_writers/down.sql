CREATE OR REPLACE FUNCTION cdp.bump_filter_data_version() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  PERFORM nextval('cdp.filter_data_version');
  RETURN NULL;
END $$;
DROP TABLE cdp.filter_writes;
